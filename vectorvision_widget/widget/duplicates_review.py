"""Duplicate review: the groups of ``lib.duplicates()`` with a suggested keeper each, what the
browser shows of them, and the user's choices checked (``w.duplicate_choices``).

The keeper rule: the largest resolution (width × height), then the largest file, then the oldest
``taken`` date (an image without one loses that tie), then the lowest row. Nothing here (or
anywhere in the package) deletes a file: the choices are returned to Python for the user to act
on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

from vectorvision_widget.widget.mapdata import ascii_name

__all__ = [
    "TIERS",
    "DuplicateGroup",
    "check_choices",
    "keeper_key",
    "review_groups",
    "review_payload",
    "suggest_keeper",
]

TIERS = ("exact", "near", "similar")


class DuplicateGroup(TypedDict):
    """One group of the review: its tier, its rows (ascending) and the suggested keeper."""

    tier: str
    rows: list[int]
    suggested: int


def _number(value: object) -> float:
    """A non-negative finite number from a record field, else 0 (unknown loses)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _taken(value: object) -> float:
    """Seconds since the epoch of an ISO 8601 ``taken`` (wall clock: a zone is ignored); +inf
    when absent or unreadable, so an image with a date wins the "oldest" tie."""
    if not isinstance(value, str) or not value:
        return math.inf
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return math.inf
    return when.replace(tzinfo=timezone.utc).timestamp()


def keeper_key(record: Mapping[str, Any], row: int) -> tuple[float, float, float, int]:
    """Sort key of the keeper rule: the smallest key is kept."""
    pixels = _number(record.get("width")) * _number(record.get("height"))
    return (-pixels, -_number(record.get("size")), _taken(record.get("taken")), row)


def suggest_keeper(records: Sequence[Mapping[str, Any]], rows: Sequence[int]) -> int:
    """The row of ``rows`` to keep by the keeper rule (ValueError for no rows)."""
    if not rows:
        msg = "suggest_keeper: a group needs at least one row"
        raise ValueError(msg)
    return min(rows, key=lambda r: keeper_key(records[r], r))


def review_groups(
    groups: Mapping[str, Sequence[Sequence[int]]], records: Sequence[Mapping[str, Any]]
) -> list[DuplicateGroup]:
    """The groups of ``lib.duplicates()`` as one list (exact, then near, then similar; within a
    tier as given), each with its suggested keeper. The index in this list is the group index
    of ``w.duplicate_choices``."""
    out: list[DuplicateGroup] = []
    for tier in TIERS:
        for group in groups.get(tier, []):
            rows = sorted(int(r) for r in group)
            if len(rows) > 1:
                out.append({"tier": tier, "rows": rows, "suggested": suggest_keeper(records, rows)})
    return out


def _item(records: Sequence[Mapping[str, Any]], paths: Sequence[str], row: int) -> dict[str, Any]:
    rec = records[row]
    width, height, size = (rec.get(k) for k in ("width", "height", "size"))
    taken = rec.get("taken")
    return {
        "row": row,
        "name": ascii_name(Path(paths[row]).name),
        "width": int(_number(width)) or None,
        "height": int(_number(height)) or None,
        "size": int(_number(size)) or None,
        "taken": ascii_name(taken) if isinstance(taken, str) else None,
    }


def review_payload(
    groups: Sequence[DuplicateGroup],
    records: Sequence[Mapping[str, Any]],
    paths: Sequence[str],
    serial: int,
) -> dict[str, Any]:
    """What the browser's review panel shows (trait ``_duplicate_review``): each group with
    the file name, resolution, size and date of its images. ``serial`` changes per review, so
    the panel opens again for a new one."""
    return {
        "serial": serial,
        "groups": [{**g, "items": [_item(records, paths, r) for r in g["rows"]]} for g in groups],
    }


def check_choices(
    choices: object, groups: Sequence[DuplicateGroup], current: Sequence[int] | None = None
) -> list[int]:
    """``{group index: kept row}`` checked against ``groups``; returns the kept row of every
    group as a list by group index (``current``'s, else the suggestion, where ``choices`` has
    no entry). TypeError / KeyError / ValueError name the bad entry; nothing is applied then."""
    if not isinstance(choices, Mapping):
        kind = type(choices).__name__
        msg = f"duplicate_choices must be a dict {{group index: kept row}}, got {kind}"
        raise TypeError(msg)
    if current is not None and len(current) == len(groups):
        kept = list(current)
    else:
        kept = [g["suggested"] for g in groups]
    for key, row in choices.items():
        index = _int(key, "group index")
        if not 0 <= index < len(groups):
            n = len(groups)
            msg = f"duplicate_choices: no group {index} (there are {n}; see w.duplicate_groups)"
            raise KeyError(msg)
        value = _int(row, "kept row")
        if value not in groups[index]["rows"]:
            msg = f"duplicate_choices: row {value} is not in group {index} {groups[index]['rows']}"
            raise ValueError(msg)
        kept[index] = value
    return kept


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        msg = f"duplicate_choices: a {what} must be an integer, got {value!r}"
        raise TypeError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # keys that went through JSON
    if hasattr(value, "__index__"):
        return int(value.__index__())
    msg = f"duplicate_choices: a {what} must be an integer, got {type(value).__name__} {value!r}"
    raise TypeError(msg)
