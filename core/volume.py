"""The typed CT volume: voxels in (z, y, x) order with their ITK geometry.

This module is the one place where SimpleITK's (x, y, z) order meets numpy's (z, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK loads where an image is converted: the network needs none of it
    import SimpleITK as sitk


@dataclass(frozen=True)
class VolumeInfo:
    """What a reader sees about a scan's origin; for display and provenance."""

    patient_id: str = ""
    study_description: str = ""
    series_description: str = ""
    series_uid: str = ""
    modality: str = ""
    source: str = ""


@dataclass(frozen=True, eq=False)
class Volume:
    """A CT volume in Hounsfield units with the geometry an exported label map must share.

    Attributes:
        hu: int16 Hounsfield units, shape (z, y, x): slice k, row j, column i.
        spacing: Voxel size in mm, ITK order (x, y, z).
        origin: World position (LPS, mm) of voxel (i, j, k) = (0, 0, 0).
        direction: 3x3 direction cosines, row-major, ITK convention.
        info: Patient/series description and source path.
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    info: VolumeInfo = field(default_factory=VolumeInfo)

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.hu.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Size in ITK order (columns, rows, slices)."""
        z, y, x = self.shape_zyx
        return (x, y, z)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def contains_index(self, ijk: tuple[int, int, int] | np.ndarray) -> bool:
        """Whether ITK voxel index (i, j, k) lies inside the image."""
        return all(0 <= int(c) < n for c, n in zip(ijk, self.size_ijk))

    def index_to_world(self, ijk: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """ITK voxel index (i column, j row, k slice; fractional allowed) -> world mm (LPS).

        Accepts one point (3,) or many (n, 3).
        """
        ijk = np.asarray(ijk, dtype=float)
        return (ijk * np.asarray(self.spacing)) @ self.direction_matrix.T + np.asarray(self.origin)

    def world_to_index(self, xyz: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """World mm (LPS) -> continuous ITK voxel index (i, j, k). One point or (n, 3)."""
        xyz = np.asarray(xyz, dtype=float)
        return ((xyz - np.asarray(self.origin)) @ self.direction_matrix) / np.asarray(self.spacing)

    def with_hu(self, hu: np.ndarray) -> "Volume":
        """The same geometry around other voxels (a crop keeps its own origin: use ``crop``)."""
        return Volume(hu, self.spacing, self.origin, self.direction, self.info)

    def crop(self, k0: int, k1: int, j0: int = 0, j1: int | None = None,
             i0: int = 0, i1: int | None = None) -> "Volume":
        """Sub-volume [k0:k1, j0:j1, i0:i1] with its origin moved so world positions hold."""
        hu = self.hu[k0:k1, j0:j1, i0:i1]
        origin = tuple(float(v) for v in self.index_to_world((i0, j0, k0)))
        return Volume(np.ascontiguousarray(hu), self.spacing, origin, self.direction, self.info)


def volume_from_sitk(image: "sitk.Image", info: VolumeInfo | None = None) -> Volume:
    """Wrap a 3D scalar SimpleITK image (already in HU) as a Volume."""
    import SimpleITK as sitk

    hu = sitk.GetArrayFromImage(image)
    if hu.dtype != np.int16:
        hu = np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
    return Volume(
        hu=hu,
        spacing=tuple(float(v) for v in image.GetSpacing()),
        origin=tuple(float(v) for v in image.GetOrigin()),
        direction=tuple(float(v) for v in image.GetDirection()),
        info=info or VolumeInfo(),
    )


def image_like(array_zyx: np.ndarray, like: Volume) -> "sitk.Image":
    """A SimpleITK image of ``array_zyx`` with exactly ``like``'s geometry."""
    if tuple(array_zyx.shape) != like.shape_zyx:
        raise ValueError(f"array shape {array_zyx.shape} differs from the volume's {like.shape_zyx}")
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
    image.SetSpacing(like.spacing)
    image.SetOrigin(like.origin)
    image.SetDirection(like.direction)
    return image
