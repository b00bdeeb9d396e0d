"""Which patient side each edge of the axial view faces, from the scan's direction cosines."""

from __future__ import annotations

import numpy as np

# LPS world axes: +x towards the patient's Left, +y Posterior, +z Superior.
_POSITIVE, _NEGATIVE = "LPS", "RAI"


def axis_letter(vector: np.ndarray) -> str:
    """The patient side a world vector points to most (one letter)."""
    axis = int(np.argmax(np.abs(vector)))
    return (_POSITIVE if vector[axis] > 0 else _NEGATIVE)[axis]


def axial_edges(direction: tuple[float, ...]) -> dict[str, str]:
    """Letters for the view's edges; the view shows column i to the right, row j downwards.

    Args:
        direction: ITK direction, 9 values row-major; column 0 is the i axis, column 1 the j axis.

    Returns:
        {"left": ..., "right": ..., "top": ..., "bottom": ...}; a standard axial scan gives
        R, L, A, P (radiological convention: patient's right on the viewer's left).
    """
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    i_axis, j_axis = matrix[:, 0], matrix[:, 1]
    return {"left": axis_letter(-i_axis), "right": axis_letter(i_axis),
            "top": axis_letter(-j_axis), "bottom": axis_letter(j_axis)}
