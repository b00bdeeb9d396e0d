"""File > Open labels: a label map (NIfTI, NRRD) or DICOM SEG of the open scan becomes editable
nodules, one per label or segment, so a reader can review someone else's outlines or a model's
batch output. Each nodule is one undo step; its measurements follow as for any nodule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from noduleseg.core.errors import NodulesegError
from noduleseg.core.labels_io import load_labels
from noduleseg.core.nodule_mask import NoduleMask
from noduleseg.core.volume import Volume

from .masks import MaskCrop
from .state import Status, ViewerState

if TYPE_CHECKING:
    from .window import MainWindow

LABELS_FILTER = "Label maps and DICOM SEG (*.nii.gz *.nii *.nrrd *.dcm);;All files (*)"


def read_outlines(path: Path, volume: Volume) -> list[tuple[str, NoduleMask]]:
    """(name, mask) per nodule of a label map ("label n") or a DICOM SEG (its segment labels).

    Raises:
        LabelImportError: The file is not labels of this scan (the message names it).
    """
    if path.name.lower().endswith(".dcm"):
        from noduleseg.core.dicom_seg_read import read_dicom_seg  # highdicom only when asked for

        return read_dicom_seg(path, volume)
    return [(f"label {label}", mask) for label, mask in load_labels(path, volume)]


def add_outlines(state: ViewerState, path: Path) -> list[int]:
    """Add every outline of ``path`` to the open scan as an imported nodule; their ids."""
    volume = state.volume
    added = []
    for name, mask in read_outlines(path, volume):
        seed = mask.central_voxel_ijk(volume.spacing_zyx)
        added.append(state.add_nodule(MaskCrop(mask.mask, mask.offset_zyx), seed, status=Status.IMPORTED,
                                      name=name, notes=f"imported from {path.name}"))
    return added


def choose_and_open(window: "MainWindow") -> None:
    """Ask for a label file, then ``open_labels``."""
    if window.state.volume is None:
        return
    name, _ = QFileDialog.getOpenFileName(window, "Open labels", window.settings.last_dir(), LABELS_FILTER)
    if name:
        window.settings.set_last_dir(str(Path(name).parent))
        open_labels(window, Path(name))


def open_labels(window: "MainWindow", path: Path) -> list[int]:
    """The outlines of ``path`` as nodules of the open scan; a refusal is shown, nothing added."""
    try:
        added = add_outlines(window.state, path)
    except NodulesegError as error:
        QMessageBox.critical(window, "Open labels", str(error))
        return []
    window.statusBar().showMessage(f"{len(added)} nodule(s) opened from {path.name}", 8000)
    return added
