"""Report figures without a plotting library: a PNG writer, line curves and patch montages."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from noduleseg.core.atomic import write_bytes_atomic

WHITE, GREY, BLACK = (255, 255, 255), (200, 200, 200), (0, 0, 0)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image (H, W, 3) as PNG bytes."""
    rgb = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))
    height, width = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    write_bytes_atomic(path, png_bytes(rgb))


def _draw_polyline(canvas: np.ndarray, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        cols = np.rint(np.linspace(x0, x1, n)).astype(int)
        rows = np.rint(np.linspace(y0, y1, n)).astype(int)
        for dr in (0, 1):
            canvas[np.clip(rows + dr, 0, canvas.shape[0] - 1), np.clip(cols, 0, canvas.shape[1] - 1)] = colour
    for x, y in zip(xs, ys):
        canvas[max(0, int(y) - 2):int(y) + 3, max(0, int(x) - 2):int(x) + 3] = colour


def curves_image(series: Sequence[tuple[Sequence[float], tuple[int, int, int]]], boundaries: Sequence[int],
                 width: int = 640, height: int = 320, margin: int = 20) -> np.ndarray:
    """Line plot of several series over epochs on a [0, 1] axis (values clipped), with grey
    vertical lines at stage boundaries (epoch indices) and horizontal lines at 0.25 steps."""
    canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
    n = max((len(values) for values, _ in series), default=1)
    x_of = lambda i: margin + (width - 2 * margin) * (i / max(1, n - 1))  # noqa: E731
    y_of = lambda v: height - margin - (height - 2 * margin) * float(np.clip(v, 0.0, 1.0))  # noqa: E731
    for level in (0.0, 0.25, 0.5, 0.75, 1.0):
        canvas[int(y_of(level)), margin:width - margin] = GREY
    for boundary in boundaries:
        column = int(x_of(boundary - 0.5))
        canvas[margin:height - margin, max(0, column)] = GREY
    canvas[margin:height - margin, margin] = BLACK
    canvas[height - margin, margin:width - margin] = BLACK
    for values, colour in series:
        finite = [(i, v) for i, v in enumerate(values) if v == v]
        if finite:
            index, value = zip(*finite)
            _draw_polyline(canvas, np.array([x_of(i) for i in index]), np.array([y_of(v) for v in value]), colour)
    return canvas


def montage(patches: Sequence[np.ndarray], masks: Sequence[np.ndarray], scale: int = 3) -> np.ndarray:
    """Grey patches (values 0..1) side by side, each mask's outline in red, enlarged ``scale`` x."""
    tiles = []
    for patch, mask in zip(patches, masks):
        grey = np.repeat(np.clip(patch, 0, 1)[..., None] * 255, 3, axis=2)
        mask = mask.astype(bool)
        edge = mask & ~ndimage.binary_erosion(mask)
        grey[edge] = (255, 40, 40)
        tiles.append(np.pad(grey, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    if not tiles:
        return np.full((8, 8, 3), 255, np.uint8)
    strip = np.concatenate(tiles, axis=1)
    return np.repeat(np.repeat(strip, scale, axis=0), scale, axis=1).astype(np.uint8)
