"""Issue 19 item 12: ``w.refresh()`` (and ⟳) after a few rows changed updates only those rows —
the new and changed images are placed into the map on screen (no layout job), the neighbour
table is updated (equal to a full recompute), only the thumbnail atlases whose rows changed are
sent, and the data version (the browser's cue to drop its atlases and refit) stays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import capture_sends

import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.library.store import Library
from vectorvision_widget.widget.increments import row_prints
from vectorvision_widget.widget.widget import VectorVision

N = 1100  # two atlases: rows 0..1023 and 1024..1099


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def library(n: int = N) -> Library:
    rng = np.random.default_rng(3)
    paths = [f"/no/such/dir/{i:05d}.jpg" for i in range(n)]
    return Library.from_arrays(paths, unit(rng, n, 12), unit(rng, n, 16))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often a map is trained and a whole neighbour table computed."""
    calls = {"train": 0, "table": 0}
    real_train, real_table = mapdata.train_layout, mapdata.neighbours

    def train(*a: Any, **kw: Any) -> Any:
        calls["train"] += 1
        return real_train(*a, **kw)

    def table(*a: Any, **kw: Any) -> Any:
        calls["table"] += 1
        return real_table(*a, **kw)

    monkeypatch.setattr(mapdata, "train_layout", train)
    monkeypatch.setattr(mapdata, "neighbours", table)
    return calls


def shown_table(w: VectorVision) -> tuple[np.ndarray, np.ndarray]:
    return w._work.tables[w._work.table_key(w.mode, w.hybrid_weight, w.k)]


def assert_table_is_a_full_recompute(w: VectorVision) -> None:
    idx, scores = shown_table(w)
    full_idx, full_scores, _ = mapdata.neighbours(w.library, "visual", 0.5, w.k)
    np.testing.assert_array_equal(idx, full_idx)
    np.testing.assert_allclose(scores, full_scores, atol=1e-6)
    np.testing.assert_array_equal(w._table["idx"], full_idx)  # what the browser gets


def ready(counted: dict[str, int]) -> tuple[VectorVision, list[tuple[dict[str, Any], Any]]]:
    w = VectorVision(library())
    assert w.wait(120)
    assert counted == {"train": 1, "table": 1}
    return w, capture_sends(w)


def test_a_few_added_and_changed_rows_update_only_those_rows(counted: dict[str, int]) -> None:
    w, sent = ready(counted)
    lib = w.library
    version, grid, cells = w._data_version, list(w._grid), w.cells
    w.selected = [3, 1099]
    rng = np.random.default_rng(9)
    lib.upsert({"path": lib.paths[1050]}, unit(rng, 1, 12)[0], unit(rng, 1, 16)[0])  # changed
    for i in range(3):  # added at the end
        lib.upsert({"path": f"/no/such/dir/new{i}.jpg"}, unit(rng, 1, 12)[0], unit(rng, 1, 16)[0])
    w.refresh()
    assert w.wait(120)
    assert counted == {"train": 1, "table": 1}, "no retrain, no whole table"
    assert w._data_version == version, "the browser keeps its zoom and atlases"
    assert w._grid[0] >= grid[0] and w._grid[1] >= grid[1]
    keep = [r for r in range(N) if r != 1050]
    np.testing.assert_array_equal(w.cells[keep], cells[keep])  # every other image stays put
    ids = w.cells[:, 0].astype(np.int64) * w._grid[1] + w.cells[:, 1]
    assert w.cells.shape == (N + 3, 2) and np.unique(ids).size == N + 3
    assert_table_is_a_full_recompute(w)
    atlases = [m["index"] for m, _ in sent if m["type"] == "atlas"]
    assert atlases == [1], "only the block holding the changed and new rows is resent"
    assert [m for m, _ in sent if m["type"] == "rows"] == [
        {"type": "rows", "version": version, "rows": [1050], "shifted": N}
    ]
    assert sorted(a.index for a in w._work.atlases) == [0, 1]  # a late view gets both
    assert w.selected == [3, 1099]
    w.close()


def test_a_removed_row_resends_only_the_renumbered_blocks(counted: dict[str, int]) -> None:
    w, sent = ready(counted)
    lib = w.library
    version, cells, gone = w._data_version, w.cells, lib.paths[1030]
    w.selected = [1040]
    lib.remove([gone])
    w.refresh()
    assert w.wait(120)
    assert counted == {"train": 1, "table": 1} and w._data_version == version
    np.testing.assert_array_equal(w.cells, np.delete(cells, 1030, axis=0))
    assert_table_is_a_full_recompute(w)
    assert [m["index"] for m, _ in sent if m["type"] == "atlas"] == [1]
    rows = [m for m, _ in sent if m["type"] == "rows"]
    assert rows == [{"type": "rows", "version": version, "rows": [], "shifted": 1030}]
    assert w.selected == [1039], "the selection follows its image to its new row"
    w.close()


def test_many_changes_or_full_true_redo_everything(counted: dict[str, int]) -> None:
    w, sent = ready(counted)
    version = w._data_version
    w.refresh(full=True)
    assert w.wait(120)
    assert counted == {"train": 2, "table": 2} and w._data_version == version + 1
    assert sorted(m["index"] for m, _ in sent if m["type"] == "atlas") == [0, 1]
    w.library.remove(w.library.paths[: N // 2])  # half the library: a fresh map
    w.refresh()
    assert w.wait(120)
    assert counted == {"train": 3, "table": 3} and w._data_version == version + 2
    w.close()


def test_nothing_changed_refresh_redoes_nothing(counted: dict[str, int]) -> None:
    w, sent = ready(counted)
    version, table = w._data_version, w._table
    w.library.tag([0], "a-tag")  # tags are no vectors: nothing to redo
    w.refresh()
    assert w.wait(60)
    assert counted == {"train": 1, "table": 1} and w._data_version == version
    assert [m for m, _ in sent if m["type"] == "atlas"] == []
    np.testing.assert_array_equal(w._table["idx"], table["idx"])
    w.close()


def test_row_prints_see_any_changed_bit_and_nothing_else() -> None:
    lib = library(50)
    before = row_prints(lib)
    np.testing.assert_array_equal(row_prints(lib), before)
    vec = np.array(lib.features[7])
    vec[3] = np.nextafter(vec[3], np.float32(2))  # one ulp
    lib.upsert({"path": lib.paths[7]}, vec, np.array(lib.visual_features[7]))
    after = row_prints(lib)
    assert np.flatnonzero(after != before).tolist() == [7]
