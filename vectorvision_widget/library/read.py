"""Reading library files: our streamed layout line by line, anything else (legacy desktop-app
files, bare lists, hand-made or reformatted JSON) as one document; one validation for both.

Every malformed file raises LibraryFormatError naming the file and the problem, whatever is
wrong with it. Loading a file we wrote streams it: one record line at a time, vectors decoded
straight into preallocated matrices (peak memory ≈ the matrices plus the metadata; see
benchmarks/bench_library.py). Other layouts are parsed whole.
"""

from __future__ import annotations

import binascii
import gc
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from vectorvision_widget.errors import LibraryFormatError
from vectorvision_widget.library.fields import clean_record, json_safe
from vectorvision_widget.library.format import (
    FORMAT,
    LE_F4,
    VERSION,
    LibraryData,
    b64decode,
    decode_vector,
    fail,
    json_kind,
    loads,
)
from vectorvision_widget.vectors import NonFiniteRowError, ZeroRowError, l2_normalise

__all__ = ["read_library"]

_DECODE_CHUNK = 2048  # rows per base64 decode in the document fast path (stays in cache)
_NORM_TOLERANCE = 1e-4  # rows this close to unit length are kept bit-exact (round trips)
_STREAM_HEAD = b'{"format":"' + FORMAT.encode() + b'"'
_STREAM_TAIL = b',"images":[\n'
_MIN_RECORD_BYTES = 24  # the shortest record line: {"path":"a","features":[1]},


class _NotStreamLayout(Exception):
    """The file starts like ours but its lines are laid out otherwise (reformatted by a person or
    a tool: blank lines, indentation, comma-first lines, wrapped records): read it whole."""


def _parse_json(path: Path, raw: bytes) -> Any:
    if not raw.strip():
        raise fail(path, f"the file is empty ({len(raw)} bytes)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return loads(path, raw)


def _split_document(path: Path, doc: Any) -> tuple[list[tuple[str | None, Any]], dict[str, Any]]:
    """(list of (key-path or None, raw record), top-level dict) for every accepted layout."""
    if isinstance(doc, list):  # legacy: bare list of records
        return [(None, r) for r in doc], {}
    if not isinstance(doc, dict):
        raise fail(path, f"wrong shape: top level is {json_kind(doc)}, expected an object")
    fmt = doc.get("format")
    if fmt is not None and fmt != FORMAT:
        raise fail(path, f"unknown format {fmt!r} (expected {FORMAT!r})")
    if fmt == FORMAT or "images" in doc:
        version = doc.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise fail(path, f"'version' must be an integer, got {version!r}")
        if version > VERSION:
            problem = (
                f"written by a newer vectorvision_widget (format version {version}, this one reads "
                f"up to {VERSION}); upgrade with `pip install -U vectorvision-widget`"
            )
            raise fail(path, problem)
        if "images" not in doc:
            raise fail(path, "wrong shape: missing the 'images' list")
        images = doc["images"]
        if isinstance(images, dict):
            return list(images.items()), doc
        if not isinstance(images, list):
            raise fail(path, f"wrong shape: 'images' is {json_kind(images)}, expected a list")
        return [(None, r) for r in images], doc
    # legacy: the reference desktop app's object keyed by path
    return list(doc.items()), {}


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
    if not texts or width == 0 or width % 4 or (width // 4 * 3) % 4:
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
            buf = b64decode("".join(chunk))
        except (binascii.Error, ValueError):
            return None
        if len(buf) != 4 * dim * len(chunk):
            return None
        target[start : start + len(chunk)] = np.frombuffer(buf, dtype=LE_F4).reshape(-1, dim)
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
    mats: dict[str, np.ndarray] = {}
    first_row: dict[str, int] = {}
    present = np.zeros(n, dtype=bool)
    for i, (_, raw) in enumerate(entries):

        def where(i: int = i) -> str:
            return f"record {i} ({paths[i]!r})"

        vec = decode_vector(path, where, key, raw.get(key))
        if vec is None:
            if required:
                raise fail(path, f"{where()}: missing '{key}'")
            continue
        _put_row(path, mats, first_row, key, n, i, vec, where)
        present[i] = True
    return mats.get(key, np.zeros((n, 0), dtype=np.float32)), present


def _put_row(
    path: Path,
    mats: dict[str, np.ndarray],
    first_row: dict[str, int],
    key: str,
    n: int,
    i: int,
    vec: np.ndarray,
    where: Callable[[], str],
) -> None:
    """Store `vec` as row i of mats[key], creating the (n, D) matrix at the key's first vector;
    a vector of another size than that first one is refused (vectors from different models)."""
    mat = mats.get(key)
    if mat is None:
        if vec.size == 0:
            raise fail(path, f"{where()}: '{key}' is empty")
        mat = mats[key] = np.zeros((n, vec.size), dtype=np.float32)
        first_row[key] = i
    elif vec.size != mat.shape[1]:
        problem = (
            f"{where()}: '{key}' has {vec.size} values but record {first_row[key]} has "
            f"{mat.shape[1]} (mismatched dimensions: vectors from different models?)"
        )
        raise fail(path, problem)
    mat[i] = vec


def _normalise_rows(
    path: Path, mat: np.ndarray, present: np.ndarray, key: str, paths: list[str]
) -> np.ndarray:
    """Check finiteness and scale rows to unit length in place; all-zero optional rows become
    missing (all-zero `features` are an error)."""
    if mat.shape[1] == 0:
        return present
    try:
        _, nonzero = l2_normalise(
            mat,
            copy=False,
            tolerance=_NORM_TOLERANCE,
            what=key,
            return_mask=True,
            allow_zero=key != "features",
        )
    except NonFiniteRowError as exc:
        i = exc.row
        problem = f"record {i} ({paths[i]!r}): '{key}' contains non-finite values (NaN/Inf/null)"
        raise fail(path, problem) from None
    except ZeroRowError as exc:
        i = exc.row
        raise fail(path, f"record {i} ({paths[i]!r}): 'features' is all zeros") from None
    has: np.ndarray = present & nonzero
    return has


def _models(path: Path, value: Any, dims: dict[str, int]) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(path, f"'models' is {json_kind(value)}, expected an object")
    out: dict[str, dict[str, Any]] = {}
    for key, info in value.items():
        if not isinstance(info, dict):
            raise fail(path, f"'models.{key}' is {json_kind(info)}, expected an object")
        dim = info.get("dim")
        if key in dims and dims[key] and dim is not None and dim != dims[key]:
            problem = f"'models.{key}.dim' is {dim} but the stored vectors have {dims[key]} values"
            raise fail(path, problem)
        try:
            out[key] = json_safe(info, f"'models.{key}'")
        except ValueError as exc:
            raise fail(path, str(exc)) from None
    return out


def _strings(path: Path, name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(path, f"'{name}' must be a list of strings")
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

    Raises FileNotFoundError for a missing file and LibraryFormatError (naming the file and
    the problem) for anything unreadable: no other exception escapes for bad content.
    """
    p = Path(path)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing creates ~10 objects per image and no cycles: skip the GC passes
    try:
        return _read(p)
    except LibraryFormatError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
        UnicodeError,
    ) as exc:
        raise fail(p, f"unexpected content ({type(exc).__name__}: {exc})") from None
    finally:
        if gc_was_enabled:
            gc.enable()


def _read(p: Path) -> LibraryData:
    with open(p, "rb") as fh:
        first = fh.readline()
        if first.startswith(_STREAM_HEAD) and first.endswith(_STREAM_TAIL):
            try:
                return _read_stream(p, fh, first)
            except _NotStreamLayout:
                gc.collect()  # the partial stream's matrices go before the whole document comes
        fh.seek(0)
        raw = fh.read()
    doc = _parse_json(p, raw)
    del raw
    entries, top = _split_document(p, doc)
    paths = _paths(p, entries)
    features, _ = _collect(p, entries, paths, "features", required=True)
    visual, has_visual = _collect(p, entries, paths, "visualFeatures", required=False)
    return _finish(p, entries, paths, features, visual, has_visual, top)


def _paths(p: Path, entries: list[tuple[str | None, Any]]) -> list[str]:
    paths: list[str] = []
    seen: set[str] = set()
    for i, (key, rec) in enumerate(entries):
        if not isinstance(rec, dict):
            problem = f"wrong shape: record {i} is {json_kind(rec)}, expected an object"
            raise fail(p, problem)
        rec_path = key if key is not None else rec.get("path")
        if not isinstance(rec_path, str) or not rec_path:
            raise fail(p, f"record {i}: missing 'path' (every image needs its file path)")
        if rec_path in seen:
            raise fail(p, f"record {i}: duplicate path {rec_path!r}")
        seen.add(rec_path)
        paths.append(rec_path)
    return paths


def _finish(
    p: Path,
    entries: list[tuple[str | None, Any]],
    paths: list[str],
    features: np.ndarray,
    visual: np.ndarray,
    has_visual: np.ndarray,
    top: dict[str, Any],
) -> LibraryData:
    """Shared validation of both readers: unit rows, models, records, roots, failures."""
    _normalise_rows(p, features, np.ones(len(paths), bool), "features", paths)
    has_visual = _normalise_rows(p, visual, has_visual, "visualFeatures", paths)
    visual[~has_visual] = 0.0
    models = _models(
        p, top.get("models"), {"features": features.shape[1], "visualFeatures": visual.shape[1]}
    )
    records = []
    for i, rec_path in enumerate(paths):
        raw_rec = entries[i][1]
        entries[i] = (None, None)  # the raw dict goes as its clean copy comes: no two sets
        try:
            records.append(clean_record(raw_rec, rec_path))
        except ValueError as exc:
            raise fail(p, f"record {i} ({rec_path!r}): {exc}") from None
    return LibraryData(
        records=records,
        features=features,
        visual=visual,
        has_visual=has_visual,
        models=models,
        roots=_strings(p, "roots", top.get("roots")),
        failures=_failures(top.get("failures")),
    )


def _read_stream(p: Path, fh: IO[bytes], first: bytes) -> LibraryData:
    """Our own layout: a header line, one record per line, then `]}`; parsed in batches of
    lines, each batch's vectors decoded at once straight into the preallocated matrices."""
    top = loads(p, first[:-1] + b"]}", "the header line is not valid JSON (truncated or corrupt?)")
    _split_document(p, top)  # format / version checks
    n = top.get("count")
    if type(n) is not int or n < 0:
        raise fail(p, f"the header's 'count' must be a whole number >= 0, got {n!r}")
    size = os.fstat(fh.fileno()).st_size
    if n > size // _MIN_RECORD_BYTES:
        problem = (
            f"the header's count {n:,} cannot fit in a file of {size:,} bytes (corrupt header?)"
        )
        raise fail(p, problem)
    st = _Stream(p, n)
    batch: list[bytes] = []
    closed = False
    ended = n == 0  # the previous record line had no trailing comma (it was the last)
    for line in fh:
        body = line.rstrip(b"\r\n")
        if body == b"]}":
            closed = True
            break
        if body[:1] != b"{" or body[-1:] not in (b"}", b","):
            raise _NotStreamLayout
        i = len(st.entries) + len(batch)
        if i >= n:
            raise fail(p, f"the file holds more records than its header's count {n}")
        if ended:
            raise fail(p, f"not valid JSON: a missing comma before record {i}")
        ended = not body.endswith(b",")
        batch.append(body if ended else body[:-1])
        if len(batch) == _STREAM_BATCH:
            st.add(batch)
            batch = []
    if batch:
        st.add(batch)
    if not closed:
        done = len(st.entries)
        raise fail(p, f"not valid JSON (truncated?): the file ends after {done} of {n} records")
    if fh.read().strip():
        raise _NotStreamLayout
    if len(st.entries) != n or not ended:
        raise fail(p, f"the file holds {len(st.entries)} records but its header's count is {n}")
    paths = _paths(p, st.entries)
    features = st.mats.get("features", np.zeros((n, 0), np.float32))
    visual = st.mats.get("visualFeatures", np.zeros((n, 0), np.float32))
    return _finish(p, st.entries, paths, features, visual, st.has_visual, top)


_STREAM_BATCH = 64  # record lines parsed together (orjson needs ~12× the text while parsing)


class _Stream:
    """Records and matrices of a streamed file, filled batch by batch."""

    def __init__(self, p: Path, n: int) -> None:
        self.p, self.n = p, n
        self.entries: list[tuple[str | None, Any]] = []
        self.mats: dict[str, np.ndarray] = {}
        self.first_row: dict[str, int] = {}
        self.has_visual = np.zeros(n, dtype=bool)

    def add(self, batch: list[bytes]) -> None:
        p, start = self.p, len(self.entries)
        try:
            recs = orjson.loads(b"[" + b",".join(batch) + b"]")
        except orjson.JSONDecodeError:
            recs = None
        if type(recs) is not list or len(recs) != len(batch):  # per line: lone surrogates
            recs = [_line_json(b) for b in batch]
        for j, rec in enumerate(recs):
            if not isinstance(rec, dict):
                kind = json_kind(rec)
                raise fail(p, f"wrong shape: record {start + j} is {kind}, expected an object")
        for key in ("features", "visualFeatures"):
            self._vectors(key, recs, start)
        self.entries.extend((None, rec) for rec in recs)

    def _vectors(self, key: str, recs: list[dict[str, Any]], start: int) -> None:
        pending: list[tuple[int, str, dict[str, Any]]] = []
        for j, rec in enumerate(recs):
            value = rec.pop(key, None)
            i = start + j
            if value is None:
                if key == "features":
                    raise fail(self.p, f"record {i} ({rec.get('path')!r}): missing 'features'")
                continue
            if key == "visualFeatures":
                self.has_visual[i] = True
            t = value.get("b64") if type(value) is dict and value.get("dtype") == "float32" else 0
            if key in self.mats and type(t) is str:
                pending.append((i, t, rec))
            else:
                _store(self.p, self.mats, self.first_row, key, i, self.n, value, rec)
        if not pending:
            return
        mat = self.mats[key]
        dim = mat.shape[1]
        try:  # rows without base64 padding decode as one text: one call for the batch
            buf = b64decode("".join(t for _, t, _ in pending))
        except (binascii.Error, ValueError):
            buf = b""
        if len(buf) == 4 * dim * len(pending) and (4 * dim) % 3 == 0:
            rows = [i for i, _, _ in pending]
            if len({len(t) for _, t, _ in pending}) == 1:
                mat[rows] = np.frombuffer(buf, dtype=LE_F4).reshape(len(pending), dim)
                return
        for i, t, rec in pending:  # padding, odd sizes or bad base64: row by row, exact errors
            value = {"dtype": "float32", "b64": t}
            _store(self.p, self.mats, self.first_row, key, i, self.n, value, rec)


def _line_json(line: bytes) -> Any:
    """One record line (orjson, else the standard library for lone surrogates); a line that is
    not JSON on its own is a record wrapped over lines or a truncated file: read it whole."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        raise _NotStreamLayout from None


def _store(
    p: Path,
    mats: dict[str, np.ndarray],
    first_row: dict[str, int],
    key: str,
    i: int,
    n: int,
    value: Any,
    rec: dict[str, Any],
) -> None:
    """Decode one vector straight into row i of its (preallocated) matrix."""
    mat = mats.get(key)
    text = value.get("b64") if type(value) is dict and value.get("dtype") == "float32" else None
    if mat is not None and type(text) is str:  # fast path: a packed vector of the right size
        try:
            buf = b64decode(text)
        except (binascii.Error, ValueError):
            buf = b""
        if len(buf) == 4 * mat.shape[1]:
            mat[i] = np.frombuffer(buf, dtype=LE_F4)
            return

    def where() -> str:
        return f"record {i} ({rec.get('path')!r})"

    vec = decode_vector(p, where, key, value)
    assert vec is not None
    _put_row(p, mats, first_row, key, n, i, vec, where)
