"""load_volume on the shared LIDC scans (skipped where ../shared/data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core import list_series, load_volume


@pytest.fixture
def lidc_0001(shared_data):
    return shared_data / "lidc" / "LIDC-IDRI-0001"


def as_air(hu: np.ndarray) -> np.ndarray:
    """SimpleITK's HU with the loader's padding rule (<= -2000 HU and -3024 are air)."""
    return np.where((hu <= -2000), -1024, hu)


def test_lidc_0001_dicom_matches_simpleitk_series_reader(lidc_0001):
    folder = lidc_0001 / "dicom"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    volume = load_volume(folder)
    assert volume.size_ijk == image.GetSize() == (512, 512, 133)
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-9)
    itk_hu = sitk.GetArrayFromImage(image)
    assert (itk_hu <= -2000).sum() > 1_000_000  # outside the field of view: padding is real here
    np.testing.assert_array_equal(volume.hu, as_air(itk_hu))
    assert volume.info.patient_id == "LIDC-IDRI-0001" and volume.info.modality == "CT"


def test_lidc_0001_label_map_lines_up(lidc_0001):
    volume = load_volume(lidc_0001 / "dicom")
    labels = sitk.ReadImage(str(lidc_0001 / "LIDC-IDRI-0001_nodules.nii.gz"))
    assert volume.size_ijk == labels.GetSize()
    np.testing.assert_allclose(volume.spacing, labels.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin, labels.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction, labels.GetDirection(), atol=1e-6)
    nodule = sitk.GetArrayViewFromImage(labels) > 0
    assert nodule.sum() > 1000
    assert (volume.hu[nodule] > -500).mean() > 0.7
    # The same voxels one nodule-width away are lung: misalignment would not look like this.
    assert (np.roll(volume.hu, 40, axis=2)[nodule] > -500).mean() < 0.5


def test_lidc_0001_single_file_loads_its_series(lidc_0001):
    volume = load_volume(lidc_0001 / "dicom" / "000050.dcm")
    assert volume.size_ijk == (512, 512, 133)


def test_lidc_0001_list_series(lidc_0001):
    (info,) = list_series(lidc_0001)
    assert (info.modality, info.n_slices, info.patient_id) == ("CT", 133, "LIDC-IDRI-0001")


def test_lidc_0002_nifti_loads(shared_data):
    path = shared_data / "lidc" / "LIDC-IDRI-0002" / "LIDC-IDRI-0002_ct.nii.gz"
    image = sitk.ReadImage(str(path))
    volume = load_volume(path)
    assert volume.size_ijk == (512, 512, 108)
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-6)
    np.testing.assert_array_equal(volume.hu, as_air(sitk.GetArrayFromImage(image)))
