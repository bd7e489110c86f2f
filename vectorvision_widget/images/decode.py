"""Decode any image file to plain RGB (the one opener of the package).

Decoding is defensive because real photo folders hold everything: EXIF-rotated phone pictures,
transparent PNGs, CMYK scans, 16-bit TIFFs, animated GIFs, truncated downloads and the occasional
decompression bomb. Every failure becomes an `ImageDecodeError` with a reason a person can act on,
so the scan can list it instead of crashing.

Bounded memory: `open_image` is the one opener of the package (the scan and the thumbnails both use
it). It never opens a FIFO, socket or device (`open_regular`: O_NONBLOCK, then fstat), reads the
header before anything else (`probe`), refuses decompression bombs from the header
(`max_pixels`), and decodes within a pixel budget (`pixel_budget`): a JPEG over budget is reduced
while decoding (`Image.draft`, DCT scaling 1/2..1/8); a format Pillow cannot reduce while decoding
is refused with a per-file error instead of costing gigabytes (a 14000×12000 PNG is 504 MB as RGB
before any conversion).
"""

from __future__ import annotations

import io
import math
import os
import stat as stat_module
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from vectorvision_widget.images.metadata import image_metadata, orientation, oriented_size

#: What can be opened: a path, encoded bytes or a binary file object.
FileSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
#: What `open_image` takes: a file source, or an image already in memory.
ImageSource = FileSource | Image.Image

#: Refuse images with more pixels than this (≈ a 16k × 11k photo) before decoding them.
DEFAULT_MAX_PIXELS = 180_000_000
#: Decode at most this many pixels (≈ 8k × 8k, 192 MB as RGB): bigger JPEGs are drafted down,
#: other formats over it are refused (Pillow cannot reduce them while decoding).
DEFAULT_PIXEL_BUDGET = 64_000_000
#: Transparent pixels are composited onto this neutral grey (no black/white bias in embeddings).
BACKGROUND = (128, 128, 128)


class ImageDecodeError(ValueError):
    """An image that cannot be turned into RGB pixels; the message says why."""


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Image.Image):
        return "PIL image"
    return getattr(source, "name", None) or "image bytes"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for reading; never blocks on a FIFO or device (O_NONBLOCK, then
    fstat again, for a file swapped after the stat). ImageDecodeError for anything that is not a
    regular file; FileNotFoundError / PermissionError as open() raises them."""
    if not stat_module.S_ISREG(os.stat(path).st_mode):  # before open(): a FIFO open could block
        msg = f"{os.fspath(path)}: not a regular file (FIFO, socket or device): never read"
        raise ImageDecodeError(msg)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fh = open(path, "rb", opener=lambda p, _: os.open(p, flags))  # noqa: SIM115 - returned
    try:
        if not stat_module.S_ISREG(os.fstat(fh.fileno()).st_mode):
            msg = f"{os.fspath(path)}: not a regular file (FIFO, socket or device): never read"
            raise ImageDecodeError(msg)
    except BaseException:
        fh.close()
        raise
    return fh


def _open(source: FileSource) -> ImageFile.ImageFile:
    """Open lazily (header only); nothing is decoded yet. Paths go through `open_regular`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        fh = open_regular(source)
        try:
            img = _open(fh)
        except BaseException:
            fh.close()
            raise
        img._exclusive_fp = True  # close the file with the image (as Image.open(path) does)
        return img
    _quiet_bomb_warning()
    return Image.open(source)


_BOMB_FILTER = threading.Lock()
_bomb_filter_installed = False


def _quiet_bomb_warning() -> None:
    """Silence Pillow's DecompressionBombWarning once, process-wide: every open here applies
    its own pixel limit (`max_pixels`), so the warning is only noise. Installed once instead of
    a `catch_warnings()` around each open, which is not thread-safe on decode threads."""
    global _bomb_filter_installed
    with _BOMB_FILTER:
        if not _bomb_filter_installed:
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
            _bomb_filter_installed = True


def probe(source: FileSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """Width, height and format from the header alone (no pixels decoded, the file not read
    whole): ImageDecodeError for a non-image or one over `max_pixels`. A file object is left at
    its start again."""
    name = _describe(source)
    fh = None if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) else source
    start = 0 if fh is None else fh.tell()
    img = _open_or_explain(source, name)
    try:
        _check_pixels(img.size, max_pixels, name)
        return {"width": img.width, "height": img.height, "format": img.format}
    finally:
        if fh is None:
            img.close()
        else:
            fh.seek(start)


def _open_or_explain(source: FileSource, name: str) -> ImageFile.ImageFile:
    try:
        return _open(source)
    except (FileNotFoundError, ImageDecodeError):
        raise
    except Image.DecompressionBombError as exc:
        msg = f"{name}: refused, too many pixels ({exc})"
        raise ImageDecodeError(msg) from exc
    except UnidentifiedImageError as exc:
        msg = (
            f"{name}: not an image format Pillow can read (corrupt, or e.g. HEIC/AVIF without its "
            "Pillow plugin)"
        )
        raise ImageDecodeError(msg) from exc
    except OSError as exc:
        msg = f"{name}: cannot open image ({exc})"
        raise ImageDecodeError(msg) from exc


def open_header(source: FileSource) -> ImageFile.ImageFile:
    """The image opened lazily (header and EXIF only, no pixels decoded); the caller closes
    it. ImageDecodeError naming the source for anything Pillow cannot open."""
    return _open_or_explain(source, _describe(source))


def _draft_scale(size: tuple[int, int], min_size: int | None, budget: int | None) -> int:
    """JPEG DCT scale (1, 2, 4 or 8): the largest that keeps both sides >= min_size, but at
    least the smallest that brings the pixel count within budget."""
    w, h = size
    scale = 1
    if min_size:
        while scale < 8 and min(w, h) // (scale * 2) >= min_size:
            scale *= 2
    if budget is not None:
        while scale < 8 and math.ceil(w / scale) * math.ceil(h / scale) > budget:
            scale *= 2
    return scale


def open_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: int | None = None,
    pixel_budget: int | None = DEFAULT_PIXEL_BUDGET,
) -> Image.Image:
    """Decode `source` (path, bytes, file object or PIL image) to an RGB image, upright.

    - A path must be a regular file: FIFOs, sockets and devices are refused before any read.
    - The pixel count is checked from the header before anything is decoded (`max_pixels`,
      None = no limit), so a decompression bomb never allocates its pixels.
    - `pixel_budget` (None = no budget): a bigger JPEG is decoded at a reduced DCT scale, any
      other format over it is refused (ImageDecodeError naming the sizes).
    - `min_size`: big JPEGs are decoded at a reduced DCT scale (`Image.draft`) whose shorter side is
      still >= `min_size`; 3-4× faster for camera photos. The full size stays in
      ``img.info["original_size"]``.
    - EXIF orientation applied (a broken EXIF block is ignored); alpha / palette transparency
      composited onto neutral grey; CMYK, 16-bit and float modes converted; animations give
      their first frame.
    - Photo metadata (`images.metadata`: `taken`, `camera`, `gps` from EXIF, all None without
      it) read from the same header is kept in ``img.info["photo_metadata"]`` (file sources).

    Raises `ImageDecodeError` (a ValueError) naming the source and the reason; FileNotFoundError
    for a missing file.
    """
    name = _describe(source)
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels, name)
        return to_rgb(source, name)
    img = _open_or_explain(source, name)
    try:
        original = img.size
        _check_pixels(original, max_pixels, name)
        if img.format == "JPEG":
            scale = _draft_scale(original, min_size, pixel_budget)
            if scale > 1:  # Pillow takes the largest scale <= size // request
                w, h = original
                img.draft(img.mode, (max(1, w // scale), max(1, h // scale)))
        _check_budget(img, pixel_budget, name)
        try:
            img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            msg = f"{name}: truncated or corrupt image data ({exc})"
            raise ImageDecodeError(msg) from exc
        out = to_rgb(img, name)
        if out is img:
            out = img.copy()  # closing `img` below must not free the pixels we return
        out.info["original_size"] = original
        out.info["photo_metadata"] = image_metadata(img)  # EXIF parsed with the header: cheap
        return out
    finally:
        img.close()


def _check_budget(img: Image.Image, budget: int | None, name: str) -> None:
    """Refuse what would decode to more than `budget` pixels (after any JPEG draft)."""
    w, h = img.size
    if budget is not None and w * h > budget:
        how = "even at 1/8 scale" if img.format == "JPEG" else f"and {img.format} cannot be reduced"
        msg = (
            f"{name}: {w}×{h} = {w * h:,} pixels exceeds the decode budget of {budget:,} {how} "
            "while decoding; pass pixel_budget=None (or a larger budget) to read it"
        )
        raise ImageDecodeError(msg)


def _check_pixels(size: tuple[int, int], max_pixels: int | None, name: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        msg = f"{name}: empty image ({w}×{h})"
        raise ImageDecodeError(msg)
    if max_pixels is not None and w * h > max_pixels:
        msg = (
            f"{name}: {w}×{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} (a guard "
            "against decompression bombs); pass max_pixels=None or a larger limit to read it"
        )
        raise ImageDecodeError(msg)


def _upright(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation; a broken EXIF block is ignored rather than failing the image."""
    try:
        if img.getexif().get(0x0112, 1) in (0, 1):  # no rotation: skip exif_transpose's copy
            return img
        return ImageOps.exif_transpose(img)  # a transposed copy (None only with in_place)
    except Exception:  # malformed EXIF must not lose the picture
        return img


def _composite(rgba: Image.Image) -> Image.Image:
    """Alpha over neutral grey, in 8-bit like any viewer would show it. The alpha band is kept
    in ``info["alpha"]`` (only when some pixel is transparent): colours ignore the grey
    (`colors`) and thumbnails put the image on the page's background (`on_background`)."""
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    out = Image.alpha_composite(background, rgba).convert("RGB")
    alpha = rgba.getchannel("A")
    if int(np.asarray(alpha).min(initial=255)) < 255:
        out.info["alpha"] = alpha
    return out


def alpha_of(img: Image.Image) -> Image.Image | None:
    """The alpha band (mode L, resized to ``img``) a decode kept for ``img``, or None when the
    image was opaque. Survives `copy`, `reduce`, `resize` and `crop` (Pillow copies ``info``), so
    it is resized here to whatever size ``img`` has now."""
    alpha = img.info.get("alpha")
    if not isinstance(alpha, Image.Image):
        if img.mode in ("RGBA", "LA"):
            return img.getchannel("A")
        return None
    if alpha.size != img.size:
        alpha = alpha.resize(img.size, Image.Resampling.BOX)
    return alpha


def on_background(img: Image.Image, background: Sequence[int]) -> Image.Image:
    """``img`` (decoded by `open_image`, transparent pixels on `BACKGROUND`) with its transparent
    pixels on ``background`` instead: exact, since grey = a·colour + (1−a)·BACKGROUND gives
    a·colour + (1−a)·background = grey + (1−a)·(background − BACKGROUND). Opaque images come back
    unchanged (the same object)."""
    alpha = alpha_of(img)
    if alpha is None:
        return img
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    a = np.asarray(alpha, dtype=np.float32)[..., None] / 255.0
    shift = np.asarray(background[:3], np.float32) - np.asarray(BACKGROUND, np.float32)
    out = np.clip(np.rint(rgb + (1.0 - a) * shift), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """'I;16*', 'I' and 'F' hold more than 8 bits: scale to 0..255 instead of clipping."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
    elif img.mode.startswith("I;16") or (arr.size and arr.max() > 255):
        top = 65535.0
    else:
        top = 255.0
    scaled = np.clip(np.nan_to_num(arr) * (255.0 / top), 0, 255)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), "L")


def to_rgb(img: Image.Image, name: str = "image") -> Image.Image:
    """Any Pillow mode -> upright 8-bit RGB (first frame of an animation)."""
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img = _upright(img)
        mode = img.mode
        if mode == "RGB":
            return img
        if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
            return _composite(img.convert("RGBA"))
        if mode.startswith("I") or mode == "F":
            return _high_bit_depth_to_l(img).convert("RGB")
        return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, ...
    except ImageDecodeError:
        raise
    except (OSError, ValueError) as exc:
        msg = f"{name}: cannot convert {img.mode} image to RGB ({exc})"
        raise ImageDecodeError(msg) from exc


def thumbnail(img: Image.Image, size: int) -> Image.Image:
    """A copy that fits inside size×size, aspect kept, in RGB (never upscales)."""
    if size <= 0:
        msg = f"thumbnail size must be positive, got {size}"
        raise ValueError(msg)
    out = (img if img.mode == "RGB" else to_rgb(img)).copy()
    out.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return out


def file_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """`taken`, `camera`, `gps` (`images.metadata`), `width` and `height` (after EXIF
    orientation) of an image file from its header only: no pixels decoded. ImageDecodeError for
    a file that is not an image; OSError as reading raises it."""
    img = open_header(path)
    try:
        _check_pixels(img.size, None, os.fspath(path))
        out = image_metadata(img)
        w, h = oriented_size(img.size, orientation(img))
        out["width"], out["height"] = int(w), int(h)
        return out
    finally:
        img.close()


def image_info(path: str | Path) -> dict[str, Any]:
    """Width, height and format from the header only (cheap; no pixels decoded)."""
    return probe(path, max_pixels=None)
