"""One file of a scan: read it once (regular files only), hash, decode, colours, EXIF metadata
(read with the header the decoder opens), preprocess.

`prepare_file` is what every scan engine runs per file (the local thread pool, Ray workers): it
never raises for a bad file but returns a `Failure` naming the reason, so one hostile file can
never stop a scan. Big files are checked to be images from their header before being read whole.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image

import vectorvision_widget.images.colors as colors
from vectorvision_widget.images.decode import (
    ImageDecodeError,
    open_regular,
    probe,
)
from vectorvision_widget.images.metadata import blank_metadata

if TYPE_CHECKING:
    from vectorvision_widget.models.encoders import Encoders

#: Files bigger than this have their image header checked before the whole file is read.
HEADER_FIRST_BYTES = 16 * 1024 * 1024
_PROBE_PATH = "/caf\udce9/\udcff.jpg"  # a Latin-1 name as Linux gives it to Python


@functools.cache
def library_stores_any_path() -> bool:
    """Can the library file store non-UTF-8 names (lone surrogates) and read them back?

    Asked of the library itself once per process (a tiny save + load in a temp folder), so
    the scan records such files exactly when the format can keep them, and otherwise reports
    them as failures instead of making every later save fail."""
    from vectorvision_widget.library.store import Library

    try:
        with tempfile.TemporaryDirectory(prefix="vv-probe-") as tmp:
            lib = Library.from_arrays([_PROBE_PATH], np.ones((1, 2), np.float32))
            lib.roots.append(os.path.dirname(_PROBE_PATH))
            lib.save(os.path.join(tmp, "probe.json"))
            again = Library.load(os.path.join(tmp, "probe.json"))
            return again.paths == [_PROBE_PATH] and again.roots == lib.roots
    except Exception:
        return False


class FileStat(NamedTuple):
    """What a scan keeps of a file's stat: the record's `size` and `mtime` (the incremental
    rule compares them). Plain values, so it travels to Ray workers as the driver saw it."""

    size: int
    mtime: float

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(int(st.st_size), float(st.st_mtime))


@dataclass(frozen=True)
class Failure:
    """One file (or folder) that could not be indexed, and why. `kept`: its record stays."""

    path: str
    error: str
    kept: bool = False


@dataclass
class Prepared:
    """A file read, hashed, decoded and preprocessed, waiting for inference."""

    path: str
    record: dict[str, Any]  #: everything but keywords (path, colours, sizes, sha256, EXIF)
    siglip: np.ndarray  #: (3, 224, 224) float32
    dino: np.ndarray  #: (3, 224, 224) float32
    seconds: float  #: worker time spent reading, hashing, decoding and preprocessing
    thumbs: dict[str, bytes] = field(default_factory=dict)  #: scan-time thumbnails (thumbs.cache)


def _display_size(img: Image.Image) -> tuple[int, int]:
    """Full-resolution width/height as displayed (EXIF rotation applied, JPEG draft undone).

    `original_size` is the stored (header) size; the decoded image may be a reduced draft and
    may be rotated by 90°. The orientation is the one whose aspect ratio matches the decoded
    pixels best (exact when nothing was drafted).
    """
    w, h = img.info.get("original_size", img.size)
    same = abs(img.width * h - img.height * w)
    swapped = abs(img.width * w - img.height * h)
    return (int(h), int(w)) if swapped < same else (int(w), int(h))


def storable(path: str) -> str | None:
    """None if the library can store this path, else why not (for report.failed)."""
    if "\x00" in path:
        return "file name contains a NUL byte"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # Linux names are bytes; surrogate-escaped in str
        if not library_stores_any_path():
            return "file name is not valid UTF-8; rename the file to index it"
    return None


def shown(path: str) -> str:
    """`path` printable and storable anywhere (undecodable bytes as \\xNN)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def _read_regular(path: str, max_pixels: int | None) -> bytes:
    """The bytes of a regular file (`images.open_regular`: never blocks on a FIFO); big files are
    checked to be images from their header first (a 1 GB `video.jpg` is refused unread)."""
    with open_regular(path) as fh:
        if os.fstat(fh.fileno()).st_size > HEADER_FIRST_BYTES:
            probe(fh, max_pixels=max_pixels)
        return fh.read()


def _transparency(img: Image.Image) -> dict[str, float]:
    """``{"transparent": share}`` for an image with transparent pixels (icons, emoji), else {}:
    the widget then knows a "grey" keyword describes the models' backdrop (`colors`)."""
    share = colors.transparent_share(img)
    return {"transparent": round(share, 3)} if share > 0 else {}


ThumbMaker = Callable[[Image.Image, str], dict[str, bytes]]
#: (what, t0, t1) intervals of a traced scan: "decode", "inference", "inference@<node>"
Trace = list[tuple[str, float, float]]


def prepare_file(
    path: str,
    st: FileStat | os.stat_result,
    encoders: Encoders,
    *,
    max_pixels: int | None = None,
    thumbs: ThumbMaker | None = None,
    trace: Trace | None = None,
) -> Prepared | Failure:
    """Read the file once, hash it, decode, extract colours, preprocess for both models.

    Never raises for a bad file: returns a `Failure` (read errors: `kept=True`, the record of a
    file that cannot be read right now stays). `max_pixels` defaults to the encoders' limit;
    `thumbs(img, path)` may return scan-time thumbnails (`thumbs.cache`) kept in `Prepared.thumbs`.
    """
    t0 = time.perf_counter()
    if isinstance(st, os.stat_result):
        st = FileStat.of(st)
    if max_pixels is None:
        max_pixels = encoders.max_pixels
    why = storable(path)
    if why is not None:
        return Failure(shown(path), why)
    try:
        data = _read_regular(path, max_pixels)
    except ImageDecodeError as exc:
        return Failure(path, str(exc))
    except OSError as exc:
        return Failure(path, f"cannot read file ({exc.strerror or exc})", kept=True)
    if not data:
        return Failure(path, "empty file (0 bytes)")
    try:
        buf = io.BytesIO(data)
        buf.name = path  # lets decode errors name the file
        img = encoders.load_image(buf)  # the one opener, at the draft size the models need
        siglip, dino = encoders.preprocess_image(img)
        width, height = _display_size(img)
        # colours from a box-reduced copy: exact averages, and ~10× cheaper than a thumbnail()
        small = img.reduce(max(1, max(img.size) // 256)) if max(img.size) > 512 else img
        record = {
            "path": path,
            "color": colors.average_colour(small),
            "palette": colors.palette(small, n=5),
            **(img.info.get("photo_metadata") or blank_metadata()),  # taken, camera, gps
            **_transparency(small),
            "width": width,
            "height": height,
            "size": st.size,
            "mtime": st.mtime,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    except ImageDecodeError as exc:
        reason = str(exc)
        return Failure(path, reason[len(path) + 2 :] if reason.startswith(path + ": ") else reason)
    except Exception as exc:  # Pillow plugins raise many types on hostile files; never abort
        return Failure(path, f"cannot decode image ({type(exc).__name__}: {exc})")
    made: dict[str, bytes] = {}
    if thumbs is not None:
        try:
            made = thumbs(img, path)
        except Exception:  # thumbnails are a cache: never a reason to fail the file
            made = {}
    t1 = time.perf_counter()
    if trace is not None:
        trace.append(("decode", t0, t1))
    return Prepared(path, record, siglip, dino, t1 - t0, made)
