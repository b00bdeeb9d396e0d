"""Click-to-segment: the 2D U-Net on axial patches, propagated slice by slice into 3D.

The seed slice is segmented first at the finest scale of the model's ladder
(``model.input.mm_per_px``); while the nodule is not found, reaches the patch border or fills
more than ``MAX_FIELD_FRACTION`` of it, the next coarser scale is tried. At a click on dense
tissue the ladder goes on past the model's coarsest scale, for lesions too large for it. That
scale is kept for the whole nodule. The component at the seed is kept; then the nodule is
followed through the slices above and below (``core.propagate``, which also holds the rules for
where it ends).
Where the model marks nothing at a click on dense tissue, the click is taken as evidence and the
nodule is read at a lower threshold. Once found, the nodule is cut at a share of its own peak
probability on the seed slice, not at one threshold for every nodule: how sure the model is of
a nodule varies with its texture and the scanner. Connectivity per slice keeps attached vessels
and chest wall out unless the model marks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .errors import SegmentationError
from .measure import Measurements, measure
from .model_io import LoadedModel
from .nodule_mask import NoduleMask
from .patches import PatchGeometry, paste_patch
from .planes import Plane, Prediction, cut_native, label_near, predict, reframe
from .propagate import Cancel, Progress, SegmentationCancelled, check_cancel, propagate, report
from .volume import Volume

__all__ = ["NoduleMask", "Nodule", "SegmentationCancelled", "segment_nodule", "segment_box",
           "segment_slice"]

# A nodule is found at the model's own threshold (``LoadedModel.threshold``, from its card).
# Where the model marks nothing at a click on tissue denser than aerated lung (the 3x3 median
# at least FALLBACK_MIN_HU, the low end of ground glass), the click itself is evidence of a
# nodule: the seed slice is read again at a lower threshold and the nodule is followed at it
# (faint ground glass the model is unsure of).
SEED_FALLBACK_THRESHOLD = 0.25
FALLBACK_MIN_HU = -750.0
# The nodule found, its outline is cut at the model's peak share (``LoadedModel.peak_share``, from
# its card; 0.6 on cards before it) of the highest probability on its seed-slice component, and
# followed through the slices at that cut; never below SEED_FALLBACK_THRESHOLD
# (lower, a small nodule's cut can join faint tissue around it and follow it through the lung).
# The model is surer of a solid nodule than of ground glass, and of a scan like its training
# scans than of another: one cut for all draws solid nodules wide and ground glass narrow.
# Where the nodule fitted its patch and the lower cut no longer does, the cut ran into its
# surroundings and the model's own threshold stays. Measured leave-one-scan-out,
# docs/results/issue3-loso/recipes.md ("The outline cut at a share of the nodule's own peak"). A
# model trained on real outlines may need no such cut: its card says (peak share 0).
MAX_FIELD_FRACTION = 0.7  # a nodule wider than this share of the patch goes to a coarser scale
# The model outlines a lesion up to about a third of its field; a larger, homogeneous one reads
# as chest wall (the shipped model misses a uniform 30 mm ball at 1.0 mm/px and finds it at 1.5).
# So the ladder goes on past the model's coarsest scale in steps of COARSER_STEP until the field
# is LESION_FIELD_SHARE times the largest lesion: 0.5, 1.0, 1.5, 2.25 mm/px for a 64 px patch.
MAX_LESION_MM = 50.0
LESION_FIELD_SHARE = 2.5
COARSER_STEP = 1.5
SEED_SEARCH_MM = 3.0  # a click this close to a nodule still selects it


@dataclass(frozen=True, eq=False)
class Nodule:
    """A segmented nodule: its mask in the scan, where it was seeded, its measurements."""

    mask: NoduleMask
    seed_ijk: tuple[int, int, int]
    measurements: Measurements
    model_version: str


# --- scales and components ---------------------------------------------------------------


def _ladder(model: LoadedModel) -> tuple[float, ...]:
    """The model's scales, finest first, then coarser ones up to the largest lesion's field."""
    ladder = list(model.input.mm_per_px)
    while model.input.patch_px * ladder[-1] < LESION_FIELD_SHARE * MAX_LESION_MM:
        ladder.append(ladder[-1] * COARSER_STEP)
    return tuple(ladder)


def _fits(component: np.ndarray) -> bool:
    """Whether a patch-space component stays off the border and inside the field share."""
    rows, cols = np.nonzero(component)
    size = component.shape[0]
    if min(rows.min(), cols.min()) == 0 or max(rows.max(), cols.max()) == size - 1:
        return False
    return max(np.ptp(rows), np.ptp(cols)) + 1 <= MAX_FIELD_FRACTION * size


# --- the seed slice ----------------------------------------------------------------------


def _seed_component(probability: np.ndarray, geometry: PatchGeometry, seed_ji: tuple[float, float],
                    threshold: float) -> np.ndarray | None:
    """Patch-space component at (or near) the seed, or None."""
    labels, _ = ndimage.label(probability >= threshold)
    point = geometry.patch_coords(np.float64(seed_ji[0]), np.float64(seed_ji[1]))
    mm = geometry.mm_per_px
    label = label_near(labels, (float(point[0]), float(point[1])), (mm, mm), SEED_SEARCH_MM)
    return None if label is None else labels == label


def _to_plane(volume: Volume, k: int, probability: np.ndarray, geometry: PatchGeometry,
              seed_ji: tuple[float, float], max_mm: float, threshold: float) -> Plane | None:
    """Paste a probability patch, threshold it and keep the native component at the seed."""
    box, native = cut_native(probability, geometry, volume.shape_zyx[1:], threshold)
    labels, _ = ndimage.label(native)
    local = (seed_ji[0] - box[0].start, seed_ji[1] - box[1].start)
    label = label_near(labels, local, volume.spacing_zyx[1:], max_mm)
    return None if label is None else Plane(k, box, labels == label)


class _Found(NamedTuple):
    """A seed slice found at one threshold: its scale, its plane, its component in the patch,
    and whether that fits the patch."""

    mm_per_px: float
    threshold: float
    plane: Plane
    component: np.ndarray
    fits: bool


def _seed_at(volume: Volume, seed: tuple[int, int, int], predictions: dict[float, Prediction],
             model: LoadedModel, threshold: float, scales: Sequence[float]) -> _Found | None:
    """The seed slice at one threshold, going coarser along ``scales`` while the nodule does not
    fit the patch (the coarsest find when none fits)."""
    i, j, k = seed
    found: _Found | None = None
    for mm_per_px in scales:
        if mm_per_px not in predictions:
            predictions[mm_per_px] = predict(volume, model, [(k, (float(j), float(i)))], mm_per_px)
        geometries, probability = predictions[mm_per_px]
        component = _seed_component(probability[0], geometries[0], (j, i), threshold)
        if component is None:
            continue
        plane = _to_plane(volume, k, np.where(component, probability[0], 0.0), geometries[0],
                          (j, i), SEED_SEARCH_MM + 2 * mm_per_px, threshold)
        if plane is None:
            continue
        found = _Found(mm_per_px, threshold, plane, component, _fits(component))
        if found.fits:
            break
    return found


def _seed_plane(volume: Volume, seed: tuple[int, int, int], model: LoadedModel) -> _Found:
    """The seed slice, on the model's own scales. At a click on dense tissue: the fallback
    threshold where the model marks nothing, then the scales coarser than the model's where the
    nodule is still missing or does not fit. Each scale's forward pass is made once."""
    i, j, k = seed
    dense = np.median(volume.hu[k, max(0, j - 1):j + 2, max(0, i - 1):i + 2]) >= FALLBACK_MIN_HU
    predictions: dict[float, Prediction] = {}
    own = model.input.mm_per_px
    found = _seed_at(volume, seed, predictions, model, model.threshold, own)
    if found is None and dense:
        found = _seed_at(volume, seed, predictions, model, SEED_FALLBACK_THRESHOLD, own)
    if dense and (found is None or not found.fits):
        coarser = _seed_at(volume, seed, predictions, model, model.threshold, _ladder(model)[len(own):])
        if coarser is not None and (found is None or coarser.fits):
            found = coarser
    if found is None:
        raise SegmentationError(f"no nodule found at seed ({i}, {j}, {k}): click inside the "
                                "nodule, or draw a box around it")
    return _recut(volume, seed, predictions[found.mm_per_px], found, model.peak_share)


def _own_cut(probability: np.ndarray, component: np.ndarray, share: float, found_at: float) -> float:
    """The threshold a nodule is cut at: ``share`` of its highest probability (never below the
    fallback threshold); with share 0, the threshold it was found at."""
    if share <= 0:
        return found_at
    return max(SEED_FALLBACK_THRESHOLD, share * float(probability[component].max()))


def _recut(volume: Volume, seed: tuple[int, int, int], prediction: Prediction, found: _Found,
           share: float) -> _Found:
    """The seed slice cut again at the nodule's own threshold, unless that runs out of the patch."""
    i, j, k = seed
    (geometry,), probability = prediction
    threshold = _own_cut(probability[0], found.component, share, found.threshold)
    if threshold == found.threshold:
        return found
    component = _seed_component(probability[0], geometry, (j, i), threshold)
    if component is None or (found.fits and not _fits(component)):
        return found
    plane = _to_plane(volume, k, np.where(component, probability[0], 0.0), geometry,
                      (j, i), SEED_SEARCH_MM + 2 * found.mm_per_px, threshold)
    return found if plane is None else _Found(found.mm_per_px, threshold, plane, component, _fits(component))


# --- public ------------------------------------------------------------------------------


def _check_seed(volume: Volume, seed_ijk: Sequence[float]) -> tuple[int, int, int]:
    if len(seed_ijk) != 3:
        raise SegmentationError(f"a seed is three voxel indices (i, j, k), got {tuple(seed_ijk)}")
    seed = tuple(int(round(float(v))) for v in seed_ijk)
    if not volume.contains_index(seed):
        size = "x".join(str(n) for n in volume.size_ijk)
        raise SegmentationError(f"seed {seed} lies outside the image (size i x j x k = {size})")
    return seed  # type: ignore[return-value]


def _nodule(volume: Volume, model: LoadedModel, seed: tuple[int, int, int], mm_per_px: float,
            threshold: float, plane: Plane, progress: Progress | None, cancel: Cancel | None) -> Nodule:
    report(progress, 0.1)
    planes = propagate(volume, model, mm_per_px, threshold, plane, progress, cancel)
    mask = NoduleMask.from_slices({k: (p.box, p.mask) for k, p in planes.items()})
    nodule = Nodule(mask, seed, measure(mask, volume), model.version)
    report(progress, 1.0)
    return nodule


def segment_nodule(volume: Volume, seed_ijk: Sequence[float], model: LoadedModel, *,
                   progress: Progress | None = None, cancel: Cancel | None = None) -> Nodule:
    """Segment the nodule at a clicked voxel in 3D.

    Args:
        volume: The scan.
        seed_ijk: 0-based ITK voxel index (i column, j row, k slice) inside the nodule.
        model: The loaded U-Net and its input spec.
        progress: Called with 0..1 between batches.
        cancel: Polled between batches; True stops with ``SegmentationCancelled``.

    Raises:
        SegmentationError: The seed is outside the image or no nodule is found there.
        SegmentationCancelled: ``cancel`` returned True.
    """
    seed = _check_seed(volume, seed_ijk)
    check_cancel(cancel)
    found = _seed_plane(volume, seed, model)
    return _nodule(volume, model, seed, found.mm_per_px, found.threshold, found.plane, progress, cancel)


def segment_slice(volume: Volume, seed_ijk: Sequence[float], model: LoadedModel) -> np.ndarray:
    """The nodule's outline on the seed's slice only: bool (y, x) of the slice's shape."""
    seed = _check_seed(volume, seed_ijk)
    plane = _seed_plane(volume, seed, model).plane
    out = np.zeros(volume.shape_zyx[1:], dtype=bool)
    out[plane.box] = plane.mask
    return out


def _check_box(volume: Volume, box_ijk: Sequence[float]) -> tuple[int, int, int, int, int]:
    """Corners sorted and clipped to the slice: (i0, j0, i1, j1, k), inclusive."""
    if len(box_ijk) != 5:
        raise SegmentationError(f"a box is (i0, j0, i1, j1, k), got {tuple(box_ijk)}")
    i0, j0, i1, j1, k = (int(round(float(v))) for v in box_ijk)
    i0, i1, j0, j1 = min(i0, i1), max(i0, i1), min(j0, j1), max(j0, j1)
    size_i, size_j, size_k = volume.size_ijk
    if not 0 <= k < size_k or i1 < 0 or j1 < 0 or i0 >= size_i or j0 >= size_j:
        raise SegmentationError(f"box {tuple(box_ijk)} lies outside the image "
                                f"(size i x j x k = {size_i}x{size_j}x{size_k})")
    return max(i0, 0), max(j0, 0), min(i1, size_i - 1), min(j1, size_j - 1), k


def _box_scale(model: LoadedModel, extent_mm: float) -> float:
    """The finest scale whose patch holds the box within the field share, else the coarsest."""
    ladder = _ladder(model)
    for mm_per_px in ladder:
        if extent_mm <= MAX_FIELD_FRACTION * model.input.patch_px * mm_per_px:
            return mm_per_px
    return ladder[-1]


def _box_plane(volume: Volume, model: LoadedModel, box: tuple[int, int, int, int, int],
               mm_per_px: float) -> tuple[Plane, float]:
    """The nodule inside a box and its own threshold (``_own_cut``): the component at the box's
    centre, else the largest one in it."""
    i0, j0, i1, j1, k = box
    centre = ((j0 + j1) / 2.0, (i0 + i1) / 2.0)
    geometries, probability = predict(volume, model, [(k, centre)], mm_per_px)
    native_box, values = paste_patch(probability[0], geometries[0], volume.shape_zyx[1:])
    inside = reframe(np.ones((j1 - j0 + 1, i1 - i0 + 1), bool),
                     (slice(j0, j1 + 1), slice(i0, i1 + 1)), native_box)
    centre_rc = (int(round(centre[0])) - native_box[0].start, int(round(centre[1])) - native_box[1].start)
    component = _box_component((values >= model.threshold) & inside, centre_rc)
    if component is None:
        raise SegmentationError(f"no nodule found in box ({i0}, {j0})-({i1}, {j1}) on slice {k}")
    threshold = _own_cut(values, component, model.peak_share, model.threshold)
    component = _box_component((values >= threshold) & inside, centre_rc)
    return Plane(k, native_box, component), threshold


def _box_component(marked: np.ndarray, centre_rc: tuple[int, int]) -> np.ndarray | None:
    """The marked component at the centre, else the largest one; None where nothing is marked."""
    labels, count = ndimage.label(marked)
    if count == 0:
        return None
    r, c = centre_rc
    label = labels[r, c] if 0 <= r < labels.shape[0] and 0 <= c < labels.shape[1] else 0
    if not label:
        label = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    return labels == label


def segment_box(volume: Volume, box_ijk: Sequence[float], model: LoadedModel, *,
                progress: Progress | None = None, cancel: Cancel | None = None) -> Nodule:
    """Segment the nodule inside a box drawn on one slice, then in 3D.

    Args:
        volume: The scan.
        box_ijk: (i0, j0, i1, j1, k): two opposite corners (inclusive voxel indices) on slice k.
        model: The loaded U-Net and its input spec.
        progress: Called with 0..1 between batches.
        cancel: Polled between batches; True stops with ``SegmentationCancelled``.

    Raises:
        SegmentationError: The box is outside the image or holds no nodule.
        SegmentationCancelled: ``cancel`` returned True.
    """
    box = _check_box(volume, box_ijk)
    check_cancel(cancel)
    i0, j0, i1, j1, k = box
    spacing_y, spacing_x = volume.spacing_zyx[1:]
    extent_mm = max((i1 - i0 + 1) * spacing_x, (j1 - j0 + 1) * spacing_y)
    mm_per_px = _box_scale(model, extent_mm)
    plane, threshold = _box_plane(volume, model, box, mm_per_px)
    seed = (int(round((i0 + i1) / 2)), int(round((j0 + j1) / 2)), k)
    return _nodule(volume, model, seed, mm_per_px, threshold, plane, progress, cancel)
