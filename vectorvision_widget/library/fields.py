"""Record fields of a library: keywords, colours and palettes in one canonical shape.

Readers are lenient (users and the reference desktop app wrote these fields in several ways);
everything is normalised once, on load or upsert, so the rest of the package sees one shape:
keywords [{"label": str, "score": float}], color [r, g, b] ints or None, palette [[r, g, b], ...],
tags [str, ...] (unique, non-empty; the key is absent when an image has none), gps [lat, lon]
or None.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from vectorvision_widget.vectors import ZeroRowError, l2_normalise

__all__ = [
    "VECTOR_KEYS",
    "check_vector",
    "clean_record",
    "json_safe",
    "normalize_colour",
    "normalize_gps",
    "normalize_keywords",
    "normalize_palette",
    "normalize_tags",
    "path_text",
    "record_path",
    "tag_name",
    "unit_rows",
]

VECTOR_KEYS = ("features", "visualFeatures")
_SPECIAL_KEYS = frozenset(
    {*VECTOR_KEYS, "path", "keywords", "color", "colour", "palette", "tags", "gps"}
)


def tag_name(value: object) -> str:
    """A tag as stored: a non-empty string, surrounding whitespace stripped; ValueError else."""
    if not isinstance(value, str):
        msg = f"a tag must be a string, got {type(value).__name__} {value!r}"
        raise ValueError(msg)
    name = value.strip()
    if not name:
        msg = f"a tag must be a non-empty string, got {value!r}"
        raise ValueError(msg)
    return name


def normalize_tags(value: Any) -> list[str]:
    """Tags as a list of unique non-empty strings in their first order (a comma-separated
    string is split); entries that are not strings are dropped (lenient: read from files)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    names = (v.strip() for v in value if isinstance(v, str))
    return list(dict.fromkeys(n for n in names if n))


def normalize_gps(value: Any) -> list[float] | None:
    """[lat, lon] decimal degrees from a pair (or {lat, lon}); None when absent or out of range."""
    if isinstance(value, Mapping):
        value = [value.get("lat", value.get("latitude")), value.get("lon", value.get("longitude"))]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    try:
        lat, lon = float(value[0]), float(value[1])
    except (TypeError, ValueError, OverflowError):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # NaN fails too
        return None
    return [lat, lon]


def normalize_keywords(value: Any) -> list[dict[str, Any]]:
    """Keywords as [{label, score}], from {label, score}, {className, probability}, strings,
    a {label: score} mapping or a comma-separated string. Entries without a label are dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Mapping):
        value = [{"label": k, "score": v} for k, v in value.items()]
    if not isinstance(value, (list, tuple)):
        return []
    out: list[dict[str, Any]] = []
    for item in value:
        if type(item) is dict and len(item) == 2 and type(item.get("label")) is str:
            score = item.get("score")
            if type(score) is float and math.isfinite(score):  # fast path: already clean
                out.append({"label": item["label"], "score": score})
                continue
        if isinstance(item, str):
            out.append({"label": item, "score": 1.0})  # a bare tag is taken as certain
            continue
        if not isinstance(item, Mapping):
            continue
        label = item.get("label", item.get("className", item.get("name")))
        if not isinstance(label, str) or not label:
            continue
        score = item.get("score", item.get("probability", item.get("confidence", 1.0)))
        try:
            score = float(score)
        except (TypeError, ValueError, OverflowError):
            score = 1.0
        if not math.isfinite(score):
            score = 0.0  # NaN/Inf: JSON cannot hold it; an unknown score ranks last
        out.append({"label": label, "score": score})
    return out


_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_FUNC = re.compile(r"^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")


def normalize_colour(value: Any) -> list[int] | None:
    """[r, g, b] ints 0..255 from a list, '#rrggbb', 'rgb(r, g, b)' or {r, g, b}; else None."""
    if (  # fast path: what we write ourselves
        type(value) is list
        and len(value) == 3
        and all(type(c) is int and 0 <= c <= 255 for c in value)
    ):
        return list(value)
    channels: Any = None
    if isinstance(value, Mapping):
        channels = [value.get("r"), value.get("g"), value.get("b")]
    elif isinstance(value, (list, tuple, np.ndarray)) and len(value) >= 3:
        channels = list(value[:3])
    elif isinstance(value, str):
        text = value.strip()
        if m := _HEX.match(text):
            digits = m.group(1)
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            channels = [int(digits[i : i + 2], 16) for i in (0, 2, 4)]
        elif m := _FUNC.match(text):
            channels = list(m.groups())  # e.g. "." is not a number: rejected below
    if channels is None:
        return None
    try:
        floats = [float(c) for c in channels]
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(np.isfinite(floats)):
        return None
    return [round(min(255.0, max(0.0, c))) for c in floats]


def normalize_palette(value: Any) -> list[list[int]]:
    """A palette as [[r, g, b], ...]; unreadable entries are dropped."""
    if not isinstance(value, (list, tuple)):
        return []
    colours = (normalize_colour(c) for c in value)
    return [c for c in colours if c is not None]


def _is_rgb(c: Any) -> bool:
    if type(c) is not list or len(c) != 3:
        return False
    r, g, b = c
    return (
        type(r) is int
        and type(g) is int
        and type(b) is int
        and 0 <= r <= 255
        and 0 <= g <= 255
        and 0 <= b <= 255
    )


def _is_clean_keywords(kws: Any) -> bool:
    if type(kws) is not list:
        return False
    for kw in kws:
        if type(kw) is not dict or len(kw) != 2:
            return False
        score = kw.get("score")
        if type(kw.get("label")) is not str or type(score) is not float or not math.isfinite(score):
            return False
    return True


def clean_record(raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A record without vectors, with path first and keywords/color/palette normalised.

    Unknown keys are kept (round trip). Already-clean fields (what we write) are checked with
    cheap type tests and kept as they are: this loop runs once per image on every load.
    """
    rec: dict[str, Any] = {"path": path}
    for key, value in raw.items():
        if key not in _SPECIAL_KEYS:
            t = type(value)
            if t in _PLAIN or (t is int and _INT_MIN <= value <= _INT_MAX):
                rec[key] = value
            else:
                rec[key] = json_safe(value, f"field {key!r}")
    kws = raw.get("keywords")
    rec["keywords"] = kws if _is_clean_keywords(kws) else normalize_keywords(kws)
    colour = raw.get("color", raw.get("colour"))
    rec["color"] = colour if colour is None or _is_rgb(colour) else normalize_colour(colour)
    pal = raw.get("palette")
    if type(pal) is list and all(_is_rgb(c) for c in pal):
        rec["palette"] = pal
    else:
        rec["palette"] = normalize_palette(pal)
    if "gps" in raw:
        rec["gps"] = normalize_gps(raw["gps"])
    if "tags" in raw:
        tags = normalize_tags(raw["tags"])
        if tags:
            rec["tags"] = tags
    return rec


_PLAIN = frozenset({str, bool, type(None)})
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what JSON readers (orjson) keep as integers
MAX_DEPTH = 100  # nesting of extra fields: far above real use, far below JSON codec limits


def json_safe(value: Any, where: str, depth: int = 0) -> Any:
    """`value` as plain JSON data that saves and loads back equal: tuples/sets become lists,
    numpy values and os.PathLike become Python ones, non-finite floats become None (JSON has
    no NaN), integers beyond 64 bits become floats (as JSON readers read them). Anything
    else, or nesting deeper than MAX_DEPTH, raises ValueError naming it."""
    t = type(value)
    if t in _PLAIN:
        return value
    if t is int:
        if _INT_MIN <= value <= _INT_MAX:
            return value
        try:  # readers turn bigger integers into floats: store what they will read back
            return json_safe(float(value), where, depth)
        except OverflowError:
            return None
    if t is float:
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        msg = f"{where} is nested deeper than {MAX_DEPTH} levels"
        raise ValueError(msg)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(k, (bool, int, float)) or k is None:
                k = json.dumps(k)  # how JSON writers spell non-string keys
            elif not isinstance(k, str):
                msg = f"{where} has a key of type {type(k).__name__}; keys must be strings"
                raise ValueError(msg)
            out[str(k)] = json_safe(v, where, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v, where, depth + 1) for v in items]
    if isinstance(value, np.generic):
        return json_safe(value.item(), where, depth)
    if isinstance(value, (str, int, float)):  # subclasses (enums, numpy-free scalars)
        base = str if isinstance(value, str) else float if isinstance(value, float) else int
        return json_safe(base(value), where, depth)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    msg = f"{where}: a {type(value).__name__} cannot be stored in a library file"
    raise ValueError(msg)


def unit_rows(arr: Any, what: str, *, allow_zero: bool) -> tuple[np.ndarray, np.ndarray]:
    """float32 copy scaled to unit rows, and a mask of non-zero rows; rejects NaN/Inf."""
    if np.ndim(arr) != 2:
        msg = f"{what} must be a 2-D array (images × dims), got shape {np.shape(arr)}"
        raise ValueError(msg)
    return l2_normalise(arr, what=what, allow_zero=allow_zero, tolerance=1e-6, return_mask=True)


def check_vector(vec: Any, what: str, path: str, dim: int | None, model: str) -> np.ndarray:
    """One vector as a float32 unit row; ValueError naming the image if it cannot be one.
    `dim`: the library's dimension for it (None: any), `model`: its model's name, for messages."""
    try:
        arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        msg = f"{what} of {path!r} is not a list of numbers"
        raise ValueError(msg) from None
    if arr.size == 0 or not np.isfinite(arr).all():
        msg = f"{what} of {path!r} is empty or contains NaN/Inf"
        raise ValueError(msg)
    if dim is not None and arr.size != dim:
        msg = (
            f"{what} of {path!r} have {arr.size} values but this library holds {dim}-d "
            f"vectors ({model}); vectors from different models are never mixed: scan into a "
            "new library, or call lib.clear_vectors() and rescan with force=True"
        )
        raise ValueError(msg)
    try:
        return l2_normalise(arr, allow_zero=False, tolerance=1e-6, what=f"{what} of {path!r}")
    except ZeroRowError:
        msg = f"{what} of {path!r} is all zeros"
        raise ValueError(msg) from None


def path_text(value: object) -> str | None:
    """`value` as a path string (a str, or an os.PathLike of one), None if it is not a
    non-empty one: paths come from callers whose types nothing checked."""
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else value
    return path if isinstance(path, str) and path else None


def record_path(record: object) -> str:
    """The path of a record given to `Library.upsert`; TypeError if it is not a mapping,
    ValueError if it has no non-empty path."""
    if not isinstance(record, Mapping):
        msg = f"record must be a mapping with a 'path', got {type(record).__name__}"
        raise TypeError(msg)
    raw = record.get("path", "")
    path = path_text(raw)
    if path is None:
        msg = f"record needs a non-empty 'path' string, got {raw!r}"
        raise ValueError(msg)
    return path
