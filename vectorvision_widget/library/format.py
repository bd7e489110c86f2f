"""The library file's layout: format constants, vector codecs, JSON with lossless fallbacks,
and the streaming writer. Reading lives in `library.read`.

Vectors are packed as base64 of little-endian float32 inside the JSON (`{"dtype": "float32",
"b64": "..."}`): number lists are ~4× bigger and 20–40× slower to write and read (see
docs/benchmarks.md). Files are written one record per line, after a header
line holding the image count:

    {"format":"vectorvision-library","version":2,"count":N,"models":…,"roots":…,"failures":…,"images":[
    {record 0},
    …
    {record N-1}
    ]}

which is plain JSON for any other tool, and lets `library.read` stream it: one line at a time,
vectors decoded straight into preallocated matrices, so loading and saving never hold the whole
document. Strings JSON cannot carry as UTF-8 (lone surrogates: file names that are not UTF-8,
decoded by Python with `surrogateescape`) are written as JSON `\\udcXX` escapes by the
standard library's encoder, losslessly; readers fall back to it when orjson refuses them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.errors import LibraryFormatError

__all__ = [
    "FORMAT",
    "STORES_ANY_PATH",
    "VERSION",
    "LibraryData",
    "atomic_write_bytes",
    "decode_vector",
    "encode_library",
    "iter_library",
    "json_kind",
    "loads",
]

FORMAT = "vectorvision-library"
VERSION = 2
#: Any path string Python can hold (non-UTF-8 names via surrogateescape) saves and loads back.
STORES_ANY_PATH = True
FLOAT32_NAMES = {"float32", "<f4", "f4"}
LE_F4 = np.dtype("<f4")
_WRITE_ROWS = 256  # records encoded per chunk by the streaming writer


def json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words ("a number", "a string", "an object"), for errors
    about a file: users read JSON, not Python type names ("record 0 is a int")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def b64decode(text: str) -> bytes:
    """Strict base64 decode (rejects non-alphabet characters and misplaced padding)."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)  # 3.10: no strict_mode; checks the alphabet


@dataclass
class LibraryData:
    """Everything a library file holds, validated; vectors are unit rows aligned with records."""

    records: list[dict[str, Any]]
    features: np.ndarray
    visual: np.ndarray
    has_visual: np.ndarray
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def fail(path: Path, problem: str) -> LibraryFormatError:
    """The error for an unreadable library file: names the file and the problem."""
    msg = f"cannot load library {str(path)!r}: {problem}; nothing was loaded"
    return LibraryFormatError(msg)


_fail = fail


def loads(path: Path, raw: bytes, what: str = "not valid JSON (truncated or corrupt?)") -> Any:
    """Parse JSON: orjson, else the standard library (which also reads lone-surrogate escapes,
    64-bit-overflowing integers and NaN/Infinity literals, so the checks after parsing report
    the real problem); LibraryFormatError when neither can."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        pass
    raise fail(path, f"{what}: {first_error}")


def decode_vector(path: Path, where: Callable[[], str], key: str, value: Any) -> np.ndarray | None:
    """One raw vector value (b64 dict, number list, or index-keyed object) as float32 1-D."""
    if value is None:
        return None
    if isinstance(value, dict) and "b64" in value:
        dtype = value.get("dtype", "float32")
        if dtype not in FLOAT32_NAMES:
            raise _fail(
                path, f"{where()}: '{key}' has dtype {dtype!r}; only 'float32' is supported"
            )
        data = value["b64"]
        if not isinstance(data, str):
            raise _fail(path, f"{where()}: '{key}'.b64 is not a string")
        try:
            buf = b64decode(data)
        except (binascii.Error, ValueError) as exc:
            raise _fail(path, f"{where()}: '{key}' is not valid base64 ({exc})") from None
        if len(buf) % 4:
            problem = (
                f"{where()}: '{key}' decodes to {len(buf)} bytes, not a whole number of float32"
            )
            raise _fail(path, problem)
        return np.frombuffer(buf, dtype=LE_F4).astype(np.float32)
    if isinstance(value, dict):  # JSON.stringify(Float32Array) -> {"0": x, "1": y, ...}
        keys = [str(i) for i in range(len(value))]
        if list(value) != keys and sorted(value, key=lambda k: (len(k), k)) != keys:
            raise _fail(
                path, f"{where()}: '{key}' is an object that is not a packed or indexed vector"
            )
        value = [value[k] for k in keys]
    if not isinstance(value, list):
        raise _fail(path, f"{where()}: '{key}' is {json_kind(value)}, expected a list of numbers")
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise _fail(path, f"{where()}: '{key}' holds non-numbers (null/NaN or strings)") from None
    if arr.ndim == 2 and arr.shape[0] == 1:  # a (1, D) batch of one, as tf.js tensors print
        arr = arr[0]
    if arr.ndim != 1:
        raise _fail(path, f"{where()}: '{key}' has shape {arr.shape}, expected a flat list")
    return arr


# ---------------------------------------------------------------------------- writing


def _b64_rows(mat: np.ndarray) -> list[str]:
    """Base64 of each row's little-endian float32 bytes (one big encode when rows align)."""
    le = np.ascontiguousarray(mat, dtype=LE_F4)
    row_bytes = le.shape[1] * 4
    if row_bytes % 3 == 0 and le.shape[0] > 1:  # no padding per row: slice one big encoding
        text = base64.b64encode(le.tobytes()).decode("ascii")
        width = row_bytes // 3 * 4
        return [text[i : i + width] for i in range(0, len(text), width)]
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in le]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    msg = f"cannot store a {type(obj).__name__} in a library file: {obj!r}"
    raise TypeError(msg)


def dumps(obj: Any) -> bytes:
    """One JSON value as bytes: orjson, else (lone surrogates, integers beyond 64 bits, deep
    nesting) the standard library with ASCII escapes, which writes them losslessly."""
    try:
        return orjson.dumps(obj, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        text = json.dumps(obj, default=_json_default, ensure_ascii=True, allow_nan=False)
        return text.encode("ascii")


def _vector_value(vectors: str, row: np.ndarray, text: str | None) -> Any:
    return {"dtype": "float32", "b64": text} if vectors == "b64" else row.tolist()


def iter_library(data: LibraryData, vectors: str = "b64") -> Iterator[bytes]:
    """The library file as chunks of bytes, one record per line (see the module docstring);
    memory stays at one chunk of records. `vectors`: "b64" (packed) or "list" (numbers)."""
    if vectors not in ("b64", "list"):
        msg = f"vectors must be 'b64' or 'list', got {vectors!r}"
        raise ValueError(msg)
    n = len(data.records)
    head = {
        "format": FORMAT,
        "version": VERSION,
        "count": n,
        "models": data.models,
        "roots": data.roots,
        "failures": data.failures,
    }
    yield dumps(head)[:-1] + b',"images":[\n'
    has_vis = np.asarray(data.has_visual, dtype=bool)
    for start in range(0, n, _WRITE_ROWS):
        stop = min(n, start + _WRITE_ROWS)
        feats = data.features[start:stop]
        ftext = _b64_rows(feats) if vectors == "b64" else [None] * (stop - start)
        vis_ok = has_vis[start:stop] if data.visual.shape[1] else np.zeros(stop - start, bool)
        vis_rows = np.flatnonzero(vis_ok)
        vtext: dict[int, str | None] = {}
        if vis_rows.size:
            texts = _b64_rows(data.visual[start + vis_rows]) if vectors == "b64" else None
            for j, r in enumerate(vis_rows.tolist()):
                vtext[r] = texts[j] if texts is not None else None
        lines = []
        for j in range(stop - start):
            out = dict(data.records[start + j])
            out["features"] = _vector_value(vectors, feats[j], ftext[j])
            if j in vtext:
                out["visualFeatures"] = _vector_value(vectors, data.visual[start + j], vtext[j])
            lines.append(dumps(out))
        sep = b",\n"
        yield sep.join(lines) + (sep if stop < n else b"\n")
    yield b"]}\n"


def encode_library(data: LibraryData, vectors: str = "b64") -> bytes:
    """The whole library file as one bytes object (small libraries, tests)."""
    return b"".join(iter_library(data, vectors))
