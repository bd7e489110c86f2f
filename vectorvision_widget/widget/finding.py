"""The widget's finding tools, kernel side: the filter (``w.filter``, the arguments of
``lib.where``), the options the filter bar offers, and a text search that says how many images
match, not only which are shown.

What "match" means for a text search (``w.search_total``):

- with encoders whose SigLIP calibration is known, an image matches when the model's own
  zero-shot probability ``sigmoid(scale × cos + bias)`` is at least 0.5 — SigLIP's decision
  boundary, the same calibration the scan's keywords use; the hits are the best ``search_k``
  of those, by score;
- otherwise (no encoders, or a model without a published calibration) an image matches when its
  file name or keywords contain every word of the query; with encoders these are still ranked by
  the embedding score.

When nothing matches, the ``search_k`` nearest images are shown and the count says 0.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorvision_widget.library.filters import FILTER_KEYS

if TYPE_CHECKING:
    from vectorvision_widget.library import Library
    from vectorvision_widget.models.encoders import Encoders

__all__ = [
    "MAX_OPTIONS",
    "FilterError",
    "filter_options",
    "matches_text",
    "normalise_filter",
    "pack_rows",
    "text_search",
]

MAX_OPTIONS = 200  #: most entries of each filter-bar list (most frequent first)


class FilterError(ValueError):
    """A ``w.filter`` that ``lib.where`` cannot take."""


def _jsonable(key: str, value: Any) -> Any:
    """``value`` as JSON (dates as ISO text, paths as str, tuples as lists)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list | tuple):
        return [_jsonable(key, v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    msg = f"filter[{key!r}]: cannot use a {type(value).__name__} ({value!r})"
    raise FilterError(msg)


def normalise_filter(lib: Library, value: object) -> tuple[dict[str, Any], list[int] | None]:
    """(the filter as JSON with empty fields dropped, its rows; None when it is empty).
    :class:`FilterError` names an unknown key (with a spelling hint) or the field ``lib.where``
    refuses."""
    if not isinstance(value, Mapping):
        msg = f"filter must be a dict with keys from {list(FILTER_KEYS)}, got {value!r}"
        raise FilterError(msg)
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key not in FILTER_KEYS:
            hint = difflib.get_close_matches(str(key), FILTER_KEYS, n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            msg = f"filter: unknown key {key!r}{also}; valid keys: {list(FILTER_KEYS)}"
            raise FilterError(msg)
        if v is None or (isinstance(v, list | tuple | str) and not v and key != "taken"):
            continue
        blank = isinstance(v, list | tuple) and len(v) == 2 and all(x in (None, "") for x in v)
        if key == "taken" and blank:
            continue
        out[key] = _jsonable(key, v)
    if isinstance(out.get("folder"), str):  # as lib.where reads it, and as the bar lists it
        out["folder"] = os.path.normpath(os.path.abspath(os.path.expanduser(out["folder"])))
    elif isinstance(out.get("folder"), list):
        out["folder"] = [
            os.path.normpath(os.path.abspath(os.path.expanduser(f))) if isinstance(f, str) else f
            for f in out["folder"]
        ]
    if "taken" in out and isinstance(out["taken"], list):
        out["taken"] = [None if x == "" else x for x in out["taken"]]
    if not out:
        return {}, None
    try:
        rows = lib.where(**out)
    except (ValueError, TypeError) as err:
        raise FilterError(f"filter: {err}") from None
    return out, rows


def pack_rows(rows: list[int] | None, n: int) -> bytes:
    """A bit per image, ``np.packbits`` order (row 0 is the high bit of byte 0): 1 = matches.
    Empty bytes for "no filter"."""
    if rows is None:
        return b""
    mask = np.zeros(n, bool)
    mask[np.asarray(rows, np.int64)] = True
    return np.packbits(mask).tobytes()


def filter_options(lib: Library) -> dict[str, Any]:
    """What the filter bar offers: folders (the roots and the folders holding images, most
    images first), cameras, tags, keywords (most frequent first, at most
    :data:`MAX_OPTIONS` each) and the range of dates taken."""
    folders: Counter[str] = Counter()
    cameras: Counter[str] = Counter()
    keywords: Counter[str] = Counter()
    dates: list[str] = []
    for rec in lib.records:
        folders[os.path.dirname(str(rec.get("path", "")))] += 1
        cam = rec.get("camera")
        if isinstance(cam, str) and cam.strip():
            cameras[cam.strip()] += 1
        for kw in rec.get("keywords") or ():
            label = kw.get("label", kw.get("className")) if isinstance(kw, Mapping) else kw
            if isinstance(label, str) and label.strip():
                keywords[label.strip()] += 1
        taken = rec.get("taken")
        if isinstance(taken, str) and len(taken) >= 10:
            dates.append(taken[:10])
    roots = [os.fspath(r) for r in (getattr(lib, "roots", None) or [])]
    folder_list = list(dict.fromkeys([*roots, *(f for f, _ in folders.most_common(MAX_OPTIONS))]))
    tags = sorted(lib.tag_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "folders": folder_list[:MAX_OPTIONS],
        "cameras": [c for c, _ in cameras.most_common(MAX_OPTIONS)],
        "tags": [t for t, _ in tags[:MAX_OPTIONS]],
        "keywords": [k for k, _ in keywords.most_common(MAX_OPTIONS)],
        "taken": [min(dates), max(dates)] if dates else None,
    }


def matches_text(rec: Mapping[str, Any], words: list[str]) -> bool:
    """The record's file name or keywords contain every word (lower case)."""
    labels = " ".join(
        kw.get("label", "") if isinstance(kw, Mapping) else str(kw)
        for kw in rec.get("keywords") or []
    )
    hay = f"{Path(str(rec.get('path', ''))).name} {labels}".lower()
    return all(w in hay for w in words)


def text_search(
    lib: Library, text: str, k: int, encoders: Encoders | None
) -> tuple[list[int], int]:
    """(rows to highlight, best first; how many images match ``text``): see the module
    docstring for what matches."""
    words = text.lower().split()
    n = len(lib)
    if encoders is None:
        hits = [row for row, rec in enumerate(lib.records) if matches_text(rec, words)]
        return hits[:k], len(hits)
    ranked = lib.search(text, encoders=encoders, k=n)
    zero_shot = encoders.meaning.zero_shot
    if zero_shot.calibrated:
        boundary = -float(zero_shot.logit_bias or 0.0) / float(zero_shot.logit_scale or 1.0)
        matching = [row for row, score in ranked if score >= boundary]
    else:
        recs = lib.records
        matching = [row for row, _ in ranked if matches_text(recs[row], words)]
    if not matching:
        return [row for row, _ in ranked[:k]], 0
    return matching[:k], len(matching)
