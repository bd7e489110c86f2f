"""The library file: JSON (de)serialisation, legacy formats, validation and atomic writes.

Kept apart from `library.py` so the in-memory structure and the on-disk format can change
independently. Everything here is plain data in, plain data out: no pickle, no eval.

Vectors are packed as base64 of little-endian float32 inside the JSON (`{"dtype": "float32",
"b64": "..."}`): number lists are ~4× bigger and 20–40× slower to write and read (see PERF.md).
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .atomicfile import atomic_write_bytes
from .errors import LibraryFormatError
from .libfields import clean_record
from .vectors import NonFiniteRowError, ZeroRowError, l2_normalise

FORMAT = "vectorvision-library"
VERSION = 2
_FLOAT32_NAMES = {"float32", "<f4", "f4"}
_LE_F4 = np.dtype("<f4")
_DECODE_CHUNK = 2048  # rows per base64 decode in the fast path (a few MB: stays in cache)
_NORM_TOLERANCE = 1e-4  # rows this close to unit length are kept bit-exact (round trips)


def _b64decode(text: str) -> bytes:
    """Strict base64 decode (rejects non-alphabet characters and misplaced padding)."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except TypeError:  # Python 3.10: no strict_mode; validate=True checks the alphabet
        return base64.b64decode(text, validate=True)


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


# ---------------------------------------------------------------------------- reading


def _fail(path: Path, problem: str) -> LibraryFormatError:
    msg = f"cannot load library {str(path)!r}: {problem}; nothing was loaded"
    return LibraryFormatError(msg)


def _parse_json(path: Path, raw: bytes) -> Any:
    if not raw.strip():
        raise _fail(path, f"the file is empty ({len(raw)} bytes)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    # Python's json also reads NaN/Infinity literals (written by json.dump); if it succeeds, the
    # finite-value check below reports the real problem instead of "not JSON".
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        pass
    raise _fail(path, f"not valid JSON (truncated or corrupt?): {first_error}")


def _split_document(path: Path, doc: Any) -> tuple[list[tuple[str | None, Any]], dict[str, Any]]:
    """(list of (key-path or None, raw record), top-level dict) for every accepted layout."""
    if isinstance(doc, list):  # legacy: bare list of records
        return [(None, r) for r in doc], {}
    if not isinstance(doc, dict):
        raise _fail(
            path, f"wrong shape: top level is a JSON {type(doc).__name__}, expected an object"
        )
    fmt = doc.get("format")
    if fmt is not None and fmt != FORMAT:
        raise _fail(path, f"unknown format {fmt!r} (expected {FORMAT!r})")
    if fmt == FORMAT or "images" in doc:
        version = doc.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise _fail(path, f"'version' must be an integer, got {version!r}")
        if version > VERSION:
            problem = (
                f"written by a newer vectorvision_widget (format version {version}, this one reads "
                f"up to {VERSION}); upgrade with `pip install -U vectorvision-widget`"
            )
            raise _fail(path, problem)
        if "images" not in doc:
            raise _fail(path, "wrong shape: missing the 'images' list")
        images = doc["images"]
        if isinstance(images, dict):
            return list(images.items()), doc
        if not isinstance(images, list):
            raise _fail(
                path, f"wrong shape: 'images' is a {type(images).__name__}, expected a list"
            )
        return [(None, r) for r in images], doc
    # legacy: the reference desktop app's object keyed by path
    return list(doc.items()), {}


def _vector(path: Path, where: Callable[[], str], key: str, value: Any) -> np.ndarray | None:
    """One raw vector value (b64 dict, number list, or index-keyed object) as float32 1-D."""
    if value is None:
        return None
    if isinstance(value, dict) and "b64" in value:
        dtype = value.get("dtype", "float32")
        if dtype not in _FLOAT32_NAMES:
            raise _fail(
                path, f"{where()}: '{key}' has dtype {dtype!r}; only 'float32' is supported"
            )
        data = value["b64"]
        if not isinstance(data, str):
            raise _fail(path, f"{where()}: '{key}'.b64 is not a string")
        try:
            buf = _b64decode(data)
        except (binascii.Error, ValueError) as exc:
            raise _fail(path, f"{where()}: '{key}' is not valid base64 ({exc})") from None
        if len(buf) % 4:
            problem = (
                f"{where()}: '{key}' decodes to {len(buf)} bytes, not a whole number of float32"
            )
            raise _fail(path, problem)
        return np.frombuffer(buf, dtype=_LE_F4).astype(np.float32)
    if isinstance(value, dict):  # JSON.stringify(Float32Array) -> {"0": x, "1": y, ...}
        keys = [str(i) for i in range(len(value))]
        if list(value) != keys and sorted(value, key=lambda k: (len(k), k)) != keys:
            raise _fail(
                path, f"{where()}: '{key}' is an object that is not a packed or indexed vector"
            )
        value = [value[k] for k in keys]
    if not isinstance(value, list):
        raise _fail(
            path, f"{where()}: '{key}' is a {type(value).__name__}, expected a list of numbers"
        )
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise _fail(path, f"{where()}: '{key}' holds non-numbers (null/NaN or strings)") from None
    if arr.ndim == 2 and arr.shape[0] == 1:  # a (1, D) batch of one, as tf.js tensors print
        arr = arr[0]
    if arr.ndim != 1:
        raise _fail(path, f"{where()}: '{key}' has shape {arr.shape}, expected a flat list")
    return arr


def _collect_packed(
    entries: list[tuple[str | None, Any]], key: str, required: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Fast path for files we wrote: every vector packed, equally long, without base64 padding,
    so one decode of the joined text gives the whole matrix. None -> use the checking path."""
    texts: list[str] = []
    rows: list[int] = []
    width = -1
    for i, (_, raw) in enumerate(entries):
        value = raw.get(key)
        if value is None:
            if required:
                return None
            continue
        if type(value) is not dict or value.get("dtype") != "float32":
            return None
        text = value.get("b64")
        if type(text) is not str or (len(text) != width and width != -1) or text[-1:] == "=":
            return None
        width = len(text)
        texts.append(text)
        rows.append(i)
    if not texts or width % 4 or (width // 4 * 3) % 4:
        return None
    dim = width // 4 * 3 // 4
    present = np.zeros(len(entries), dtype=bool)
    present[rows] = True
    mat = np.zeros((len(entries), dim), dtype=np.float32)
    target = mat if len(rows) == len(entries) else np.empty((len(rows), dim), np.float32)
    # Decode in chunks straight into the matrix: no giant joined string, no second copy.
    for start in range(0, len(texts), _DECODE_CHUNK):
        chunk = texts[start : start + _DECODE_CHUNK]
        try:
            buf = _b64decode("".join(chunk))
        except (binascii.Error, ValueError):
            return None
        if len(buf) != 4 * dim * len(chunk):
            return None
        target[start : start + len(chunk)] = np.frombuffer(buf, dtype=_LE_F4).reshape(-1, dim)
    if target is not mat:
        mat[rows] = target
    return mat, present


def _collect(
    path: Path, entries: list[tuple[str | None, Any]], paths: list[str], key: str, required: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Stack one vector key over all records into (N, D) float32 + a presence mask."""
    fast = _collect_packed(entries, key, required)
    if fast is not None:
        return fast
    n = len(entries)
    mat: np.ndarray | None = None
    present = np.zeros(n, dtype=bool)
    first_row = -1
    for i, (_, raw) in enumerate(entries):

        def where(i: int = i) -> str:
            return f"record {i} ({paths[i]!r})"

        vec = _vector(path, where, key, raw.get(key))
        if vec is None:
            if required:
                raise _fail(path, f"{where()}: missing '{key}'")
            continue
        if mat is None:
            if vec.size == 0:
                raise _fail(path, f"{where()}: '{key}' is empty")
            mat = np.zeros((n, vec.size), dtype=np.float32)
            first_row = i
        elif vec.size != mat.shape[1]:
            problem = (
                f"{where()}: '{key}' has {vec.size} values but record {first_row} has "
                f"{mat.shape[1]} (mismatched dimensions: vectors from different models?)"
            )
            raise _fail(path, problem)
        mat[i] = vec
        present[i] = True
    if mat is None:
        mat = np.zeros((n, 0), dtype=np.float32)
    return mat, present


def _normalise_rows(
    path: Path, mat: np.ndarray, present: np.ndarray, key: str, paths: list[str]
) -> np.ndarray:
    """Check finiteness and scale rows to unit length in place; all-zero optional rows become
    missing (all-zero `features` are an error)."""
    if mat.shape[1] == 0:
        return present
    try:
        _, nonzero = l2_normalise(
            mat, copy=False, tolerance=_NORM_TOLERANCE, what=key, return_mask=True,
            allow_zero=key != "features",
        )  # fmt: skip
    except NonFiniteRowError as exc:
        i = exc.row
        problem = f"record {i} ({paths[i]!r}): '{key}' contains non-finite values (NaN/Inf/null)"
        raise _fail(path, problem) from None
    except ZeroRowError as exc:
        i = exc.row
        raise _fail(path, f"record {i} ({paths[i]!r}): 'features' is all zeros") from None
    return present & nonzero


def _models(path: Path, value: Any, dims: dict[str, int]) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"'models' is a {type(value).__name__}, expected an object")
    out: dict[str, dict[str, Any]] = {}
    for key, info in value.items():
        if not isinstance(info, dict):
            raise _fail(path, f"'models.{key}' is a {type(info).__name__}, expected an object")
        dim = info.get("dim")
        if key in dims and dims[key] and dim is not None and dim != dims[key]:
            problem = f"'models.{key}.dim' is {dim} but the stored vectors have {dims[key]} values"
            raise _fail(path, problem)
        out[key] = dict(info)
    return out


def _strings(path: Path, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"'{name}' must be a list of strings")
    return list(value)


def _failures(value: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            out.append({"path": item, "error": "unknown"})
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            out.append({"path": item["path"], "error": str(item.get("error", "unknown"))})
    return out


def read_library(path: str | os.PathLike[str]) -> LibraryData:
    """Read and validate a library file (current, legacy keyed-by-path, or bare list).

    Raises FileNotFoundError for a missing file and LibraryFormatError for anything unreadable.
    """
    p = Path(path)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing creates ~10 objects per image and no cycles: skip the GC passes
    try:
        return _read(p)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read(p: Path) -> LibraryData:
    raw = p.read_bytes()
    doc = _parse_json(p, raw)
    del raw
    entries, top = _split_document(p, doc)
    paths: list[str] = []
    seen: set[str] = set()
    for i, (key, rec) in enumerate(entries):
        if not isinstance(rec, dict):
            problem = f"wrong shape: record {i} is a {type(rec).__name__}, expected an object"
            raise _fail(p, problem)
        rec_path = key if key is not None else rec.get("path")
        if not isinstance(rec_path, str) or not rec_path:
            raise _fail(p, f"record {i}: missing 'path' (every image needs its file path)")
        if rec_path in seen:
            raise _fail(p, f"record {i}: duplicate path {rec_path!r}")
        seen.add(rec_path)
        paths.append(rec_path)

    features, _ = _collect(p, entries, paths, "features", required=True)
    visual, has_visual = _collect(p, entries, paths, "visualFeatures", required=False)
    _normalise_rows(p, features, np.ones(len(paths), bool), "features", paths)
    has_visual = _normalise_rows(p, visual, has_visual, "visualFeatures", paths)
    visual[~has_visual] = 0.0

    models = _models(
        p, top.get("models"), {"features": features.shape[1], "visualFeatures": visual.shape[1]}
    )
    records = [
        clean_record(raw_rec, rec_path)
        for rec_path, (_, raw_rec) in zip(paths, entries, strict=True)
    ]
    return LibraryData(
        records=records,
        features=features,
        visual=visual,
        has_visual=has_visual,
        models=models,
        roots=_strings(p, "roots", top.get("roots")),
        failures=_failures(top.get("failures")),
    )


# ---------------------------------------------------------------------------- writing


def _b64_rows(mat: np.ndarray) -> list[str]:
    """Base64 of each row's little-endian float32 bytes (one big encode when rows align)."""
    le = np.ascontiguousarray(mat, dtype=_LE_F4)
    row_bytes = le.shape[1] * 4
    if row_bytes % 3 == 0 and le.shape[0] > 1:  # no padding per row: slice one big encoding
        text = base64.b64encode(le.tobytes()).decode("ascii")
        width = row_bytes // 3 * 4
        return [text[i : i + width] for i in range(0, len(text), width)]
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in le]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    msg = f"cannot store a {type(obj).__name__} in a library file: {obj!r}"
    raise TypeError(msg)


def encode_library(data: LibraryData, vectors: str = "b64") -> bytes:
    """The JSON bytes for `data`; vectors as packed base64 ("b64") or number lists ("list")."""
    if vectors not in ("b64", "list"):
        msg = f"vectors must be 'b64' or 'list', got {vectors!r}"
        raise ValueError(msg)
    n = len(data.records)
    if vectors == "b64":
        feats: list[Any] = [{"dtype": "float32", "b64": s} for s in _b64_rows(data.features)]
        vis_rows = np.flatnonzero(data.has_visual)
        vis_text = _b64_rows(data.visual[vis_rows]) if len(vis_rows) else []
        vis: list[Any] = [None] * n
        for row, text in zip(vis_rows.tolist(), vis_text, strict=True):
            vis[row] = {"dtype": "float32", "b64": text}
    else:
        feats = list(np.ascontiguousarray(data.features, dtype=np.float32))
        vis = [row if ok else None for row, ok in zip(data.visual, data.has_visual, strict=True)]
    images = []
    for i, rec in enumerate(data.records):
        out = dict(rec)
        out["features"] = feats[i]
        if vis[i] is not None:
            out["visualFeatures"] = vis[i]
        images.append(out)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "models": data.models,
        "roots": data.roots,
        "images": images,
        "failures": data.failures,
    }
    return orjson.dumps(doc, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


def iter_library(data: LibraryData, vectors: str = "b64") -> Iterator[bytes]:
    """The library file as chunks of bytes (streamed to disk by the atomic writer)."""
    yield encode_library(data, vectors)


__all__ = [
    "FORMAT",
    "VERSION",
    "LibraryData",
    "atomic_write_bytes",
    "encode_library",
    "iter_library",
    "read_library",
]
