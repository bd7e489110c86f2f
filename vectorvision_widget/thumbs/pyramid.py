"""The overview's tile pyramid: the whole map pre-composed into JPEG mosaics at every zoom.

Why: drawing the zoomed-out map one thumbnail at a time costs one ``drawImage`` per image
(≈ 2.4 s at 100k), and past 300k the browser fell back to one colour per cell. Deep-zoom map
viewers solve this with a pyramid, and so do we: level 0 is the map with every cell at the atlas
tile size ``t`` (each image's tile in its grid cell, empty cells grey), each higher level is the
level below downsampled 2× (mean of 2 × 2 pixels), up to the level that fits one mosaic. Each
level is cut into ``MOSAIC_PX``-px JPEG mosaics (row-major; the last column and row may be
narrower). The browser draws the few mosaics covering its view at the level whose cell is just
larger than a screen pixel: a handful of ``drawImage`` calls at any N.

Built from the atlases the widget already has (:func:`atlas_tiles` decodes one), so the pyramid
needs no image file. Pure functions of (tiles, cells, grid): the widget rebuilds it in a job
whenever the layout or the tiles change.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vectorvision_widget.thumbs.tiles import Atlas, encode_jpeg

__all__ = [
    "EMPTY_GREY",
    "MOSAIC_PX",
    "Level",
    "Pyramid",
    "atlas_tiles",
    "build_pyramid",
    "downsample",
    "level_sizes",
    "map_image",
]

MOSAIC_PX = 512  #: side of one mosaic (px); a 512-px JPEG decodes in ~1 ms in the browser
EMPTY_GREY = 128  #: colour of empty cells (the browser paints its background over them)
_QUALITY = 80


@dataclass(frozen=True)
class Level:
    """One level of a pyramid: ``cell`` px per grid cell, ``width`` × ``height`` px, cut into
    ``cols`` × ``rows`` mosaics of ``side`` px; ``jpegs`` row-major."""

    level: int
    cell: float
    width: int
    height: int
    side: int
    cols: int
    rows: int
    jpegs: tuple[bytes, ...]


@dataclass(frozen=True)
class Pyramid:
    """Every level of one map, finest (0) first; ``tile`` px per cell at level 0."""

    tile: int
    grid: tuple[int, int]
    levels: tuple[Level, ...]

    @property
    def nbytes(self) -> int:
        return sum(len(j) for lv in self.levels for j in lv.jpegs)


def atlas_tiles(atlas: Atlas) -> np.ndarray:
    """The (count, t, t, 3) uint8 tiles of one atlas (decoded from its JPEG), row-major."""
    t, cols = atlas.tile, atlas.cols
    with Image.open(io.BytesIO(atlas.jpeg)) as img:
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    rows = max(1, -(-atlas.count // cols))
    width = cols if rows > 1 else atlas.count
    if arr.shape[:2] != (rows * t, width * t):
        got, want = f"{arr.shape[1]}×{arr.shape[0]}", f"{width * t}×{rows * t}"
        msg = f"atlas {atlas.index}: image is {got} px, expected {want}"
        raise ValueError(msg)
    grid = arr.reshape(rows, t, width, t, 3).transpose(0, 2, 1, 3, 4)
    tiles: np.ndarray = grid.reshape(rows * width, t, t, 3)[: atlas.count]
    return tiles


def map_image(tiles: np.ndarray, cells: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Level 0: a (rows·t, cols·t, 3) image with tile i in cell ``cells[i]``, empty cells grey.

    Rows whose cell lies outside the grid are left out (a layout never makes them)."""
    n, t = tiles.shape[0], tiles.shape[1]
    rows, cols = grid
    if cells.shape != (n, 2):
        msg = f"map_image: {n} tiles need (N, 2) cells, got shape {cells.shape}"
        raise ValueError(msg)
    out = np.full((rows, t, cols, t, 3), EMPTY_GREY, dtype=np.uint8)
    r, c = cells[:, 0].astype(np.intp), cells[:, 1].astype(np.intp)
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    out[r[inside], :, c[inside]] = tiles[inside]  # (N, t, t, 3): y within cell, x within cell
    return out.reshape(rows * t, cols * t, 3)


def downsample(img: np.ndarray) -> np.ndarray:
    """Half size (rounded up): each pixel the mean of a 2 × 2 block, edges repeated."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    s = img.astype(np.uint16)
    total = s[0::2, 0::2] + s[1::2, 0::2] + s[0::2, 1::2] + s[1::2, 1::2]
    return ((total + 2) // 4).astype(np.uint8)


def level_sizes(width: int, height: int, side: int = MOSAIC_PX) -> list[tuple[int, int]]:
    """(width, height) of each level: halved (rounded up) until the map fits one mosaic."""
    sizes = [(width, height)]
    while max(sizes[-1]) > side:
        w, h = sizes[-1]
        sizes.append((-(-w // 2), -(-h // 2)))
    return sizes


def _cut(img: np.ndarray, side: int) -> Iterator[bytes]:
    h, w = img.shape[:2]
    for y in range(0, h, side):
        for x in range(0, w, side):
            yield encode_jpeg(Image.fromarray(img[y : y + side, x : x + side]), _QUALITY)


def build_pyramid(
    tiles: np.ndarray,
    cells: np.ndarray,
    grid: tuple[int, int],
    *,
    side: int = MOSAIC_PX,
    cancelled: Callable[[], bool] = lambda: False,
) -> Pyramid | None:
    """Every level of the map of ``tiles`` (N, t, t, 3) at ``cells`` on a ``grid``; None when
    ``cancelled()`` turns true on the way (checked between levels)."""
    if side < 16:
        msg = f"build_pyramid: mosaics must be at least 16 px, got {side}"
        raise ValueError(msg)
    t = int(tiles.shape[1])
    img = map_image(tiles, cells, grid)
    levels: list[Level] = []
    for number in range(len(level_sizes(img.shape[1], img.shape[0], side))):
        if cancelled():
            return None
        if number:
            img = downsample(img)
        h, w = img.shape[:2]
        jpegs = tuple(_cut(img, side))
        cols, rows = math.ceil(w / side), math.ceil(h / side)
        levels.append(Level(number, t / 2**number, w, h, side, cols, rows, jpegs))
    return Pyramid(t, (int(grid[0]), int(grid[1])), tuple(levels))
