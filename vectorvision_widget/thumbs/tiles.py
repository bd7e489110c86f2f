"""Thumbnails for the map: tiny square tiles packed into JPEG atlases, sharper ones on demand.

The first paint must be cheap at 100k images, so every image becomes one tiny tile (4–32 px by
library size, `ATLAS_TILE_LOD`; centre-cropped to the square cell) and tiles are packed 32×32 to
a JPEG atlas (~200–400 bytes per image). Sharper thumbnails are cut only for the cells the user
zooms into. Any file that is missing or cannot be decoded becomes a placeholder tile, so a bad
file never breaks the map.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from vectorvision_widget.images.decode import DEFAULT_MAX_PIXELS, on_background, open_image

__all__ = [
    "ATLAS_COLS",
    "ATLAS_TILE_BOUNDS",
    "ATLAS_TILE_LOD",
    "INFO_SIZE",
    "SHARP_SIZES",
    "Atlas",
    "SharpCache",
    "TileCache",
    "atlas_image",
    "default_tile_size",
    "load_thumbnail",
    "placeholder_tile",
    "sharp_sizes_for",
]

ATLAS_COLS = 32  #: tiles per atlas side: 1024 images per atlas, 512–1024 px JPEGs

# The tile sizes, defined once (the widget, the sidecar cache and the browser read them here).
ATLAS_TILE_LOD = ((2_000, 32), (20_000, 24), (200_000, 16), (500_000, 8), (None, 4))
"""Level of detail of the atlas tiles: (most images, tile px), the first that fits wins (None:
any number), so the first payload stays small (at 1M, 4-px tiles are ~10 MB of JPEG)."""
ATLAS_TILE_BOUNDS = (4, 64)
"""Smallest and largest atlas tile a user may ask for (the widget's ``thumb_size``)."""
SHARP_SIZES = (16, 32, 64, 128, 256)
"""Sizes of the sharp thumbnails cut for zoomed-in cells; the browser asks for the smallest one
at least as large as a cell (trait ``_sharp_sizes``) and stops zooming at twice the largest."""
INFO_SIZE = 192
"""The tooltip thumbnail's longer side (aspect kept)."""
_PLACEHOLDER_GREY = (128, 128, 128)
SOURCE_PERCENTILE = 90
"""`sharp_sizes_for` sizes the library by this percentile of its images' shorter sides, so a
few large pictures among icons do not let every icon be blown up."""
DISPLAY_BACKGROUND = (238, 238, 238)
"""Transparent pixels of thumbnails are shown on this colour: the map's background in
JupyterLab's light theme (``--jp-layout-color2``), so icons and emoji sit on the page instead of
the mid-grey the models see (`images.decode.BACKGROUND`). JPEG tiles have no alpha channel."""


@dataclass(frozen=True)
class Atlas:
    """One JPEG atlas: rows ``first .. first+count-1`` of the library, tile ``t`` px, row-major."""

    index: int
    first: int
    count: int
    tile: int
    cols: int
    jpeg: bytes

    def header(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "first": self.first,
            "count": self.count,
            "tile": self.tile,
            "cols": self.cols,
        }


def encode_jpeg(img: Image.Image, quality: int = 80) -> bytes:
    """JPEG bytes of an RGB image; the browser decodes them with ``createImageBitmap``."""
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()


def default_tile_size(n: int) -> int:
    """Atlas tile px for a library of ``n`` images (:data:`ATLAS_TILE_LOD`): 32 px up to 2k
    images, 24 up to 20k, 16 up to 200k, 8 up to 500k, 4 beyond. Zoomed-in cells fetch
    sharper thumbnails on demand."""
    for limit, size in ATLAS_TILE_LOD:
        if limit is None or n <= limit:
            return size
    return ATLAS_TILE_LOD[-1][1]


def sharp_sizes_for(sizes: Iterable[tuple[object, object]]) -> list[int]:
    """The sharp thumbnail sizes worth cutting for images of these (width, height): those no
    larger than the library's typical shorter side (`SOURCE_PERCENTILE`), at least the smallest.
    The browser zooms in until a cell shows the largest at 2×, so 64-px emoji stop at 128 px per
    cell instead of 512 (8× blur). Sizes that are unknown count as large."""
    sides = []
    for w, h in sizes:
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            sides.append(min(w, h))
        else:
            sides.append(SHARP_SIZES[-1])
    if not sides:
        return list(SHARP_SIZES)
    typical = float(np.percentile(sides, SOURCE_PERCENTILE))
    return [s for s in SHARP_SIZES if s <= typical] or [SHARP_SIZES[0]]


def for_display(img: Image.Image, background: Sequence[int] = DISPLAY_BACKGROUND) -> Image.Image:
    """``img`` with its transparent pixels on ``background`` instead of the models' grey (see
    `images.decode.on_background`); images without alpha come back unchanged."""
    return on_background(img, background)


def _open(path: str, size: int) -> Image.Image:
    """Decode just enough of ``path`` for a ``size`` px thumbnail with the one image opener
    (`images.open_image`: pixel limit, EXIF guard, modes, JPEG draft). Regular files only: a
    path that became a FIFO or device raises instead of blocking the thumbnail pool."""
    img = open_image(path, max_pixels=DEFAULT_MAX_PIXELS, min_size=2 * size)
    return for_display(img)


def load_thumbnail(path: str, size: int, *, square: bool) -> Image.Image | None:
    """A ``size`` px thumbnail (centre-cropped square, or aspect kept), None if unreadable."""
    try:
        img = _open(path, size)
        if square:
            return ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
        img.thumbnail((size, size), Image.Resampling.BILINEAR)
        return img
    except Exception:  # any unreadable file -> placeholder; the map must never break
        return None


def placeholder_tile(size: int, colour: Sequence[int] | None = None) -> np.ndarray:
    """A tile for a missing/unreadable file: its average colour (or grey) with a cross."""
    base = tuple(int(c) for c in colour[:3]) if colour is not None else _PLACEHOLDER_GREY
    img = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(img)
    ink = (0, 0, 0) if sum(base) > 380 else (235, 235, 235)
    m = max(1, size // 5)
    draw.line((m, m, size - m - 1, size - m - 1), fill=ink, width=max(1, size // 12))
    draw.line((m, size - m - 1, size - m - 1, m), fill=ink, width=max(1, size // 12))
    return np.asarray(img)


def atlas_image(tiles: np.ndarray, cols: int = ATLAS_COLS) -> Image.Image:
    """Pack (n, t, t, 3) uint8 tiles row-major into one image ``cols`` tiles wide."""
    n, t = tiles.shape[0], tiles.shape[1]
    rows = max(1, -(-n // cols))
    width = cols if rows > 1 else max(1, n)
    canvas = np.zeros((rows * t, width * t, 3), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[r * t : (r + 1) * t, c * t : (c + 1) * t] = tiles[i]
    return Image.fromarray(canvas)


class TileCache:
    """Decoded tiles keyed by (path, mtime, size), so a refresh only re-reads changed files."""

    def __init__(self) -> None:
        self._tiles: dict[tuple[str, float, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def tile(self, path: str, size: int, colour: Sequence[int] | None) -> tuple[np.ndarray, bool]:
        """(tile, ok): ok is False when the file is missing or unreadable (placeholder drawn)."""
        try:
            mtime = os.stat(path).st_mtime
        except (OSError, ValueError):  # missing, unreadable, or a NUL byte in the name
            return placeholder_tile(size, colour), False
        key = (path, mtime, size)
        with self._lock:
            hit = self._tiles.get(key)
        if hit is not None:
            return hit, True
        img = load_thumbnail(path, size, square=True)
        if img is None:
            return placeholder_tile(size, colour), False
        arr = np.asarray(img, dtype=np.uint8)
        with self._lock:
            self._tiles[key] = arr
        return arr, True

    def build_atlases(
        self,
        paths: Sequence[str],
        colours: Sequence[Sequence[int] | None],
        size: int,
        *,
        cancelled: Callable[[], bool] = lambda: False,
        workers: int | None = None,
        blocks: Collection[int] | None = None,
    ) -> Iterator[tuple[Atlas, list[int]]]:
        """Yield each atlas as soon as its tiles are decoded, with the rows that failed;
        ``blocks``: only the atlases with these indices (an incremental refresh)."""
        per = ATLAS_COLS * ATLAS_COLS
        workers = workers or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="vv-thumbs") as pool:
            for index, first in enumerate(range(0, len(paths), per)):
                if blocks is not None and index not in blocks:
                    continue
                if cancelled():
                    return
                rows = range(first, min(len(paths), first + per))
                results = list(pool.map(lambda r: self.tile(paths[r], size, colours[r]), rows))
                tiles = np.stack([t for t, _ in results])
                failed = [r for r, (_, ok) in zip(rows, results, strict=True) if not ok]
                jpeg = encode_jpeg(atlas_image(tiles), quality=80)
                yield Atlas(index, first, len(rows), size, ATLAS_COLS, jpeg), failed


class SharpCache:
    """LRU of sharper JPEG thumbnails cut on demand for zoomed-in cells and the tooltip."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, int, bool], bytes | None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def forget(self, paths: Collection[str]) -> None:
        """Drop the thumbnails of ``paths`` (their files changed; the cache keys on the path)."""
        with self._lock:
            for key in [k for k in self._items if k[0] in paths]:
                del self._items[key]

    def get(self, path: str, size: int, *, square: bool) -> bytes | None:
        key = (path, size, square)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        img = load_thumbnail(path, size, square=square)
        data = encode_jpeg(img, quality=85) if img is not None else None
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return data
