"""Duplicate review: the keeper rule, the groups as one indexed list, the choices checked, and the
review from the widget (background job -> traits -> w.duplicate_choices). Nothing is deleted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import traitlets
from PIL import Image

import vectorvision_widget as vv
from vectorvision_widget.widget.duplicates_review import (
    check_choices,
    review_groups,
    review_payload,
    suggest_keeper,
)


def test_keeper_is_the_largest_resolution_first() -> None:
    recs = [
        {"width": 100, "height": 100, "size": 9_000_000, "taken": "2001-01-01T00:00:00"},
        {"width": 400, "height": 300, "size": 10, "taken": None},
        {"width": 300, "height": 400, "size": 5, "taken": None},
    ]
    assert suggest_keeper(recs, [0, 1, 2]) == 1  # 120k px beats 10k px; the tie goes to size


def test_keeper_ties_go_to_file_size_then_oldest_taken_then_lowest_row() -> None:
    same = {"width": 10, "height": 10}
    recs = [
        {**same, "size": 100, "taken": "2020-05-01T10:00:00"},
        {**same, "size": 200, "taken": "2021-01-01T00:00:00"},
        {**same, "size": 200, "taken": "2019-01-01T00:00:00"},
        {**same, "size": 200, "taken": None},
        {**same, "size": 200, "taken": "2019-01-01T00:00:00"},
    ]
    assert suggest_keeper(recs, [0, 1]) == 1  # larger file
    assert suggest_keeper(recs, [1, 2, 3]) == 2  # oldest date; no date loses
    assert suggest_keeper(recs, [3, 1]) == 1
    assert suggest_keeper(recs, [4, 2]) == 2  # full tie: lowest row


def test_keeper_treats_missing_or_odd_fields_as_unknown() -> None:
    recs = [
        {"width": "4000", "height": None, "size": float("nan"), "taken": "not a date"},
        {"width": 2, "height": 2},
        {"width": True, "height": 10**6, "size": -5, "taken": "2000-01-01T00:00:00+05:00"},
    ]
    assert suggest_keeper(recs, [0, 1, 2]) == 1  # the only known resolution
    assert suggest_keeper(recs, [0, 2]) == 2  # both unknown: 2 has a date
    with pytest.raises(ValueError, match="at least one row"):
        suggest_keeper(recs, [])


def test_review_groups_are_one_list_by_tier_with_suggestions() -> None:
    recs = [{"size": s} for s in (5, 9, 1, 2, 8, 3)]
    found = {"similar": [[5, 2]], "exact": [[0, 1]], "near": [[3, 4], [2]]}
    groups = review_groups(found, recs)
    assert groups == [
        {"tier": "exact", "rows": [0, 1], "suggested": 1},
        {"tier": "near", "rows": [3, 4], "suggested": 4},
        {"tier": "similar", "rows": [2, 5], "suggested": 5},
    ]
    payload = review_payload(groups, recs, [f"/x/im{i}.jpg" for i in range(6)], 7)
    assert payload["serial"] == 7
    assert [it["name"] for it in payload["groups"][2]["items"]] == ["im2.jpg", "im5.jpg"]
    assert payload["groups"][0]["items"][1]["size"] == 9


def test_check_choices_validates_group_and_row() -> None:
    groups: Any = [
        {"tier": "exact", "rows": [0, 1], "suggested": 1},
        {"tier": "near", "rows": [3, 4, 5], "suggested": 4},
    ]
    assert check_choices({}, groups) == [1, 4]
    assert check_choices({1: 5}, groups) == [1, 5]
    assert check_choices({"0": 0}, groups, [1, 3]) == [0, 3]  # keys that went through JSON
    assert check_choices({np.int64(1): np.int32(3)}, groups) == [1, 3]
    with pytest.raises(KeyError, match="no group 2"):
        check_choices({2: 0}, groups)
    with pytest.raises(ValueError, match=r"row 3 is not in group 0 \[0, 1\]"):
        check_choices({0: 3}, groups)
    with pytest.raises(TypeError, match="must be a dict"):
        check_choices([1, 4], groups)
    with pytest.raises(TypeError, match="must be an integer"):
        check_choices({0: True}, groups)


def _dup_library(tmp_path: Path) -> Any:
    """Six files: 0 and 3 byte-identical (exact); 1 and 4 nearly the same look (near)."""
    paths = []
    for i, colour in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200)]):
        p = tmp_path / f"a{i}.png"
        Image.new("RGB", (40 + 20 * i, 30), colour).save(p)
        paths.append(p)
    shutil.copyfile(paths[0], tmp_path / "copy_of_a0.png")
    Image.new("RGB", (80, 60), (0, 201, 0)).save(tmp_path / "big_a1.png")
    Image.new("RGB", (10, 10), (9, 9, 9)).save(tmp_path / "other.png")
    files = [*paths, tmp_path / "copy_of_a0.png", tmp_path / "big_a1.png", tmp_path / "other.png"]
    rng = np.random.default_rng(3)
    vis = rng.normal(size=(6, 8))
    vis[4] = vis[1] + 0.01
    sem = rng.normal(size=(6, 8))
    import hashlib

    records = [
        {
            "path": str(f),
            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
            "width": Image.open(f).size[0],
            "height": Image.open(f).size[1],
            "size": f.stat().st_size,
        }
        for f in files
    ]
    return vv.Library.from_arrays([str(f) for f in files], sem, vis, records=records)


def test_widget_review_sets_groups_choices_and_validates_changes(tmp_path: Path) -> None:
    lib = _dup_library(tmp_path)
    w = vv.VectorVision(lib)
    assert w.duplicate_groups == [] and w.duplicate_choices == {}
    w._requests.handle({"type": "review"})  # the Duplicates button
    assert w.wait(30)
    groups = w.duplicate_groups
    assert [(g["tier"], g["rows"]) for g in groups] == [("exact", [0, 3]), ("near", [1, 4])]
    assert w.duplicate_choices == {0: 0, 1: 4}  # 4 is the larger image
    assert w._duplicate_review["groups"][1]["items"][1]["name"] == "big_a1.png"
    assert "2 groups" in w.status and "nothing is deleted" in w.status
    w.duplicate_choices = {1: 1}  # a partial dict changes only that group
    assert w.duplicate_choices == {0: 0, 1: 1}
    with pytest.raises(ValueError, match="not in group 0"):
        w.duplicate_choices = {0: 1}
    # from the browser: a choice outside its group is refused and rolled back
    with pytest.raises(traitlets.TraitError):
        w.set_state({"_duplicate_choices": [0, 2]})
    assert w.duplicate_choices == {0: 0, 1: 1}
    w.set_state({"_duplicate_choices": [3, 1]})
    assert w.duplicate_choices == {0: 3, 1: 1}
    assert all(Path(p).exists() for p in lib.paths)  # nothing deleted
    w.refresh()  # rows may change: the review is gone
    assert w.duplicate_groups == [] and w._duplicate_review == {}
    w.close()
