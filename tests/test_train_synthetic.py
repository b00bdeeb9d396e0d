"""Simulated nodules from the real shape library, and the report figures' PNG writer."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from scipy import ndimage

from noduleseg.training.data import TrainCase
from noduleseg.training.png import curves_image, png_bytes
from noduleseg.training.synthetic import EDGE_INSET_MM, ShapeLibrary, edge_alpha, resample_mask, simulate
from noduleseg.training.toy import toy_case


def test_resampling_keeps_the_physical_size_of_a_shape():
    z, y, x = np.mgrid[:9, :31, :31]
    sphere = ((z - 4) * 2.5) ** 2 + ((y - 15) * 0.7) ** 2 + ((x - 15) * 0.7) ** 2 <= 8.0 ** 2
    moved = resample_mask(sphere, (2.5, 0.7, 0.7), (1.25, 0.5, 0.5))
    volume_before, volume_after = sphere.sum() * 2.5 * 0.49, moved.sum() * 1.25 * 0.25
    assert abs(volume_after / volume_before - 1.0) < 0.15
    assert moved.shape[0] > sphere.shape[0] and moved.shape[1] > sphere.shape[1]


def test_the_mask_edge_is_partial_volume_as_in_lidc_outlines():
    spacing = (2.5, 0.7, 0.7)
    z, y, x = np.mgrid[:9, :41, :41]
    ball = ((z - 4) * 2.5) ** 2 + ((y - 20) * 0.7) ** 2 + ((x - 20) * 0.7) ** 2 <= 10.0 ** 2
    alpha = edge_alpha(ball, spacing)
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    edge = ball & ~ndimage.binary_erosion(ball, in_plane)
    outside = ndimage.binary_dilation(ball, in_plane) & ~ball
    far = ~ndimage.binary_dilation(ball, in_plane, iterations=4)
    assert 0.3 < np.median(alpha[edge]) < 0.6  # an outline voxel is about half nodule
    assert np.median(alpha[outside]) < 0.2 and alpha[far].max() < 0.01
    assert alpha[4, 20, 20] > 0.99
    depth = ndimage.distance_transform_edt(ball, sampling=spacing)
    assert np.median(alpha[np.isclose(depth, EDGE_INSET_MM, atol=0.15)]) == pytest.approx(0.5, abs=0.06)


def test_simulated_nodules_go_into_lung_with_their_texture_hu(shared_data):
    library = ShapeLibrary.load(shared_data / "shapes")
    volume, labels = toy_case(0, n_nodules=1, shape=(40, 96, 96))
    case = TrainCase("toy", "toy", volume, labels)
    (new,), placed = simulate([case], 6, library, (4.0, 10.0), seed=3)
    assert 3 <= len(placed) <= 6 and new.synthetic == tuple(p["label"] for p in placed)
    assert np.array_equal(new.labels == 1, labels == 1)  # the real nodule is untouched
    assert np.array_equal(new.volume.hu[labels == 1], volume.hu[labels == 1])
    for item in placed:
        inside = new.labels == item["label"]
        assert inside.any() and (labels[inside] == 0).all()
        assert np.all(volume.hu[inside] < -400)  # placed into aerated lung
        mean_hu = float(new.volume.hu[inside].mean())
        # The edge voxels are partial volume, as in LIDC masks: a real 6 mm solid nodule of the
        # shared scans averages -360 HU inside its consensus mask.
        low = {"solid": -450, "part-solid": -760, "ground-glass": -790}[item["texture"]]
        assert low < mean_hu < 150, (item, mean_hu)
        assert 4.0 <= item["diameter_mm"] <= 10.0
    again = simulate([case], 6, library, (4.0, 10.0), seed=3)[0][0]
    assert np.array_equal(again.volume.hu, new.volume.hu)


def decode_png(data: bytes) -> np.ndarray:
    position, chunks = 8, {}
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert not raw[:, 0].any()  # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3)


def test_png_writer_round_trips_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(png_bytes(rgb)), rgb)


def test_curves_draw_each_series_in_its_colour():
    image = curves_image([([0.1, 0.5, 0.9], (255, 0, 0)), ([0.8, 0.8, 0.8], (0, 0, 255))], boundaries=[1])
    red = np.argwhere(np.all(image == (255, 0, 0), axis=2))
    blue = np.argwhere(np.all(image == (0, 0, 255), axis=2))
    assert len(red) and len(blue)
    left, right = red[red[:, 1] < 100], red[red[:, 1] > 540]
    assert left[:, 0].mean() > right[:, 0].mean()  # a rising curve: lower rows on the right
    assert np.ptp(blue[blue[:, 1] > 40][:, 0]) <= 5  # a flat one stays on one level
