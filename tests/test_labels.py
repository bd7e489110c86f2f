"""Region labels (widget/labels.py): levels, TF-IDF picks, medoids, validation of custom labels.

Expected words and medoids come from how the synthetic data is built (one keyword per quadrant,
brute-force summed cosines), never from the labels code itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vectorvision_widget.widget import labels as L


def block_map(side: int = 24) -> tuple[np.ndarray, list[dict[str, object]], int]:
    """Every cell of a side × side grid holds one image; the images of each level-0 block share
    a distinctive word ("w<block>"), and every image has the common word "photo"."""
    cells = np.array([(r, c) for r in range(side) for c in range(side)], np.int64)
    block = L.level_sides((side, side))[0]
    across = -(-side // block)
    records = []
    for r, c in cells.tolist():
        word = f"w{(r // block) * across + c // block}"
        records.append({"keywords": [{"label": "photo", "score": 0.9}, word]})
    return cells, records, block


def test_level_sides_halve_and_nest() -> None:
    sides = L.level_sides((320, 320))
    assert len(sides) == L.MAX_LEVELS
    assert all(a == 2 * b for a, b in itertools.pairwise(sides))
    assert sides[-1] >= L.MIN_SIDE
    assert L.level_sides((4, 4)) == [2]  # a tiny map has one level
    assert L.level_sides((1, 1)) == [1]


def test_tfidf_names_each_block_by_its_distinctive_word() -> None:
    cells, records, block = block_map()
    labels = L.region_labels(cells, (24, 24), None, L.keyword_index(records))
    top = [lab for lab in labels if lab["level"] == 0]
    assert len(top) == 9, labels
    across = -(-24 // block)
    for lab in top:
        expected = f"w{int(lab['y'] // block) * across + int(lab['x'] // block)}"
        assert lab["text"] == expected
        assert "photo" not in lab["keywords"]  # a word every image has is never distinctive
    assert all(lab["level"] == 0 for lab in labels)  # finer blocks have nothing new to say


def test_a_finer_block_does_not_repeat_its_parents_word() -> None:
    side = 24
    cells = np.array([(r, c) for r in range(side) for c in range(side)], np.int64)
    records: list[dict[str, object]] = []
    for r, c in cells.tolist():
        words = ["sea" if (r // 8 + c // 8) % 2 else "hill"]  # level 0: 8-cell blocks
        words.append("boat" if (r // 4 + c // 4) % 2 else "sand")
        records.append({"keywords": words})
    labels = L.region_labels(cells, (side, side), None, L.keyword_index(records))
    by_level: dict[int, list[dict[str, object]]] = {}
    for lab in labels:
        by_level.setdefault(int(lab["level"]), []).append(lab)
    assert {lab["text"] for lab in by_level[0]} <= {"sea", "hill"}
    assert by_level.get(1), "finer labels are expected"
    assert all(lab["text"] in ("boat", "sand") for lab in by_level[1])


def test_representative_is_the_cosine_medoid_of_its_block() -> None:
    rng = np.random.default_rng(3)
    cells, records, _ = block_map(12)
    X = rng.normal(size=(len(cells), 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = L.region_labels(cells, (12, 12), X, L.keyword_index(records))
    assert labels
    sides = L.level_sides((12, 12))
    for lab in labels:
        side = sides[int(lab["level"])]
        rep = int(lab["row"])
        block = (cells // side == cells[rep] // side).all(axis=1)
        members = np.flatnonzero(block)
        sims = X[members] @ X[members].T
        assert rep == members[int(np.argmax(sims.sum(axis=1)))]
        assert lab["count"] == len(members)


def test_no_keywords_or_no_images_give_no_labels() -> None:
    cells = np.zeros((0, 2), np.int64)
    assert L.region_labels(cells, (1, 1), None, L.keyword_index([])) == []
    cells = np.array([[0, 0], [0, 1]])
    assert L.region_labels(cells, (2, 2), None, L.keyword_index([{}, {"keywords": []}])) == []


def test_custom_labels_are_validated_and_placed() -> None:
    out = L.check_labels([{"text": " sea ", "row": 2, "extra": ["a"]}], 5, lambda r: (4, 7))
    assert out == [{"extra": ["a"], "text": "sea", "row": 2, "level": 0, "x": 7.5, "y": 4.5}]
    assert L.check_labels([{"text": "a", "row": 0, "x": 1, "y": 2, "level": 3}], 1)[0]["level"] == 3
    bad = [
        ("nope", "list of dicts"),
        ([{"row": 0}], "text"),
        ([{"text": "", "row": 0}], "text"),
        ([{"text": "x" * 81, "row": 0}], "text"),
        ([{"text": "a", "row": 5}], "row"),
        ([{"text": "a", "row": True}], "row"),
        ([{"text": "a", "row": 0, "level": -1}], "level"),
        ([{"text": "a", "row": 0, "x": float("nan"), "y": 0}], "finite"),
        ([{"text": "a", "row": 0, "x": "1", "y": 0}], "number"),
        ([{"text": "a", "row": 0, "x": 1, "y": 1, "bad": {"a": 1}}], "bad"),
        ([{"text": "a", "row": 0}], "missing"),
    ]
    for value, match in bad:
        with pytest.raises(ValueError, match=match):
            L.check_labels(value, 5)
