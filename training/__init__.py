"""NoduleSeg training: the Block Superimposed Fine-Tuning engine and ``noduleseg-train``."""
