"""Python side of the widget (no browser): traits, binary payloads, background jobs, requests.

Expected values come from independent computations (brute-force cosine top-k, the generated image
colours, layout.grid_cells), never from the widget's own code paths.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import traitlets
from helpers import capture_sends, wait_for
from PIL import Image

import vectorvision_widget as vv
import vectorvision_widget.som.layout as layout
from vectorvision_widget.widget.serialize import array_from_json, encode_array

COLOURS = [
    (220, 30, 30),
    (30, 200, 40),
    (40, 60, 230),
    (240, 220, 20),
    (20, 20, 20),
    (250, 250, 250),
]


def _library(tmp_path: Path, n: int = 12, *, visual: bool = True) -> Any:
    rng = np.random.default_rng(1)
    paths, records = [], []
    for i in range(n):
        colour = COLOURS[i % len(COLOURS)]
        p = tmp_path / f"img_{i:02d}.png"
        Image.new("RGB", (40 + i, 30), colour).save(p)
        paths.append(str(p))
        label = "red" if i % 6 == 0 else "thing"
        records.append(
            {"path": str(p), "color": list(colour), "keywords": [{"label": label, "score": 0.4}]}
        )
    feats = rng.normal(size=(n, 8))
    vis = rng.normal(size=(n, 6)) if visual else None
    return vv.Library.from_arrays(paths, feats, vis, records=records)


def _wire(w: Any, name: str, key: str | None = None) -> np.ndarray:
    """A synced array trait as the browser gets it: serialise, then decode {view, dtype, shape}."""
    trait = w.traits()[name]
    payload = trait.metadata["to_json"](getattr(w, name), w)
    wire = payload[key] if key else payload
    return array_from_json(wire)


def _brute_topk(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(S, idx, axis=1)


def test_unknown_keyword_is_refused_with_a_hint(tmp_path: Path) -> None:
    lib = _library(tmp_path, 3)
    with pytest.raises(TypeError, match="did you mean 'height'"):
        vv.VectorVision(lib, hieght=300)
    with pytest.raises(ValueError, match="layout mode"):
        vv.VectorVision(lib, mode="tsne")


def test_every_synced_public_trait_has_a_docstring() -> None:
    import inspect

    src = inspect.getsource(vv.VectorVision)
    for name, trait in vv.VectorVision.class_traits(sync=True).items():
        if (
            name.startswith("_")
            or name in vars(traitlets.HasTraits)
            or name in ("comm", "keys", "log", "tabbable", "tooltip", "layout")
        ):
            continue
        if f"\n    {name} = " in src:
            after = src.split(f"\n    {name} = ", 1)[1].split("\n", 2)[1]
            assert after.strip().startswith('"""'), f"trait {name} has no docstring"
            assert isinstance(trait, traitlets.TraitType)


def test_layout_cells_and_neighbour_table(tmp_path: Path) -> None:
    lib = _library(tmp_path, 12)
    w = vv.VectorVision(lib, k=4)
    assert w.wait(30)
    rows, cols = layout.map_grid_shape(12)
    assert w._grid == [rows, cols]
    cells = w.cells
    assert cells.shape == (12, 2)
    assert len({tuple(c) for c in cells}) == 12
    assert ((cells >= 0) & (cells < [rows, cols])).all()
    assert np.array_equal(_wire(w, "_cells"), cells)
    # neighbour table as sent == brute-force cosine top-k on the visual vectors
    idx, scores = _wire(w, "_table", "idx"), _wire(w, "_table", "scores")
    assert idx.shape == scores.shape == (12, 4)
    want_idx, want_scores = _brute_topk(lib.visual_features, 4)
    np.testing.assert_allclose(scores, want_scores, atol=2e-5)  # uint16 steps of [-1, 1]
    for r in range(12):
        assert set(idx[r]) == set(want_idx[r])
    assert [i for i, _ in w.neighbours(5)] == list(idx[5])
    assert "som" not in w.progress and w.progress.get("table") == "ready"


def test_semantic_mode_uses_features(tmp_path: Path) -> None:
    lib = _library(tmp_path, 10)
    w = vv.VectorVision(lib, k=3, mode="semantic")
    assert w.wait(30)
    idx = _wire(w, "_table", "idx")
    want, _ = _brute_topk(lib.features, 3)
    assert all(set(idx[r]) == set(want[r]) for r in range(10))


def test_atlas_tiles_show_the_images_and_missing_files_get_placeholders(tmp_path: Path) -> None:
    lib = _library(tmp_path, 8)
    os.remove(lib.paths[3])  # a file deleted after the scan
    w = vv.VectorVision(lib, thumb_size=16)
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle({"type": "hello"})
    atlases = [(c, b) for c, b in sent if c["type"] == "atlas"]
    assert len(atlases) == 1
    head, (jpeg,) = atlases[0]
    assert head["first"] == 0 and head["count"] == 8 and head["tile"] == 16
    img = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=float)
    for row in range(8):
        r, c = divmod(row, head["cols"])
        tile = img[r * 16 + 4 : r * 16 + 12, c * 16 + 4 : c * 16 + 12]
        centre = tile.reshape(-1, 3).mean(axis=0)
        if row == 3:
            continue
        assert np.abs(centre - COLOURS[row % len(COLOURS)]).max() < 25, (row, centre)
    # the placeholder is not a copy of the (deleted) image and has a cross through it
    r, c = divmod(3, head["cols"])
    ph = img[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16]
    assert ph.reshape(-1, 3).std(axis=0).max() > 10


def test_requests_for_sharp_thumbnails_and_info(tmp_path: Path) -> None:
    lib = _library(tmp_path, 6)
    os.remove(lib.paths[2])
    w = vv.VectorVision(lib)
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle({"type": "thumbs", "rows": [0, 2, 4, 99], "size": 120, "req": 7})
    w._requests.handle({"type": "info", "row": 2})
    w._requests.handle({"type": "info", "row": 4})
    wait_for(lambda: len(sent) >= 3)
    thumbs = next((c, b) for c, b in sent if c["type"] == "thumbs")
    assert thumbs[0]["rows"] == [0, 4] and thumbs[0]["req"] == 7 and thumbs[0]["size"] == 128
    big = Image.open(io.BytesIO(thumbs[1][1]))
    assert big.size == (128, 128)
    assert np.abs(np.asarray(big, float).mean(axis=(0, 1)) - COLOURS[4]).max() < 20
    infos = {c["row"]: (c, b) for c, b in sent if c["type"] == "info"}
    assert infos[2][0]["meta"]["missing"] is True and infos[2][1] == []
    meta = infos[4][0]["meta"]
    assert meta["name"] == "img_04.png" and meta["keywords"] == [("thing", 0.4)]
    assert Image.open(io.BytesIO(infos[4][1][0])).size[0] <= 192


def test_set_layout_with_cells_and_with_coordinates(tmp_path: Path) -> None:
    lib = _library(tmp_path, 9)
    w = vv.VectorVision(lib)
    assert w.wait(30)
    cells = np.array([[r, c] for r in range(3) for c in range(3)], dtype=np.int64)[::-1]
    w.set_layout(cells)
    assert w.mode == "custom"
    assert np.array_equal(w.cells, cells)
    coords = np.random.default_rng(3).normal(size=(9, 2))
    w.set_layout(coords)
    rows, cols = w._grid
    assert np.array_equal(w.cells, layout.grid_cells(coords, rows, cols))
    dup = np.zeros((9, 2), dtype=np.int32)  # not unique -> gridded like coordinates
    w.set_layout(dup)
    assert len({tuple(c) for c in w.cells}) == 9
    with pytest.raises(ValueError, match="rows"):
        w.set_layout(np.zeros((4, 2)))
    big = np.array([[0, 0], [40, 50]] + [[1, i] for i in range(7)])
    w.set_layout(big)
    assert w._grid[0] >= 41 and w._grid[1] >= 51
    w.mode = "visual"  # back to the SOM
    assert w.wait(30)
    assert len({tuple(c) for c in w.cells}) == 9


def test_selection_paths_roundtrip_and_validation(tmp_path: Path) -> None:
    lib = _library(tmp_path, 6)
    w = vv.VectorVision(lib)
    w.selected = [4, 1, 4]
    assert w.selected == [4, 1]
    assert w.selected_paths == [lib.paths[4], lib.paths[1]]
    w.selected_paths = [lib.paths[0], Path(lib.paths[5])]
    assert w.selected == [0, 5]
    with pytest.raises(KeyError, match="not in the library"):
        w.selected_paths = ["/nope.jpg"]
    with pytest.raises(traitlets.TraitError, match="out of range"):
        w.selected = [6]
    w.highlight([3, 2])
    assert w.highlighted == [3, 2]


def test_search_without_encoders_uses_names_and_keywords_and_colour(tmp_path: Path) -> None:
    lib = _library(tmp_path, 12)
    w = vv.VectorVision(lib)
    w.query = "red"
    wait_for(lambda: w.highlighted != [])
    assert sorted(w.highlighted) == [0, 6]
    w.query = ""
    assert w.highlighted == []
    w.colour_query = "#2030e0"
    want = [r for r, _ in lib.by_colour("#2030e0", k=w.search_k)]
    wait_for(lambda: w.highlighted == want)
    assert w.highlighted[0] % len(COLOURS) == 2  # the blue images come first


def test_hover_callbacks(tmp_path: Path) -> None:
    lib = _library(tmp_path, 4)
    w = vv.VectorVision(lib)
    seen: list[int | None] = []
    cb = w.on_hover(seen.append)
    w.hovered = 2
    w.hovered = None
    w.on_hover(cb, remove=True)
    w.hovered = 1
    assert seen == [2, None]


def test_empty_and_single_image_libraries(tmp_path: Path) -> None:
    empty = vv.VectorVision(vv.Library())
    assert empty.wait(5)
    assert len(empty.cells) == 0 and empty.cells.shape == (0, 2) and empty.selected_paths == []
    one = vv.VectorVision(_library(tmp_path, 1))
    assert one.wait(30)
    assert one.cells.tolist() == [[0, 0]]
    assert _wire(one, "_table", "idx").shape == (1, 0) and one.neighbours(0) == []
    assert one.error == ""


def test_missing_visual_features_show_a_banner(tmp_path: Path) -> None:
    lib = _library(tmp_path, 5, visual=False)
    w = vv.VectorVision(lib)
    assert w.wait(30)
    assert "5 images need a rescan" in w.banner
    assert "Shift+Hover" in w.banner and "vv.scan(" in w.banner  # what it means, how to fix
    assert w.error == ""


def test_banner_counts_only_the_images_missing_visual_features(tmp_path: Path) -> None:
    full = _library(tmp_path, 6)
    vis = np.asarray(full.visual_features).copy()
    vis[[1, 4]] = 0.0  # two images scanned before visual features existed
    lib = vv.Library.from_arrays(full.paths, full.features, vis, records=full.records)
    assert lib.missing_visual_count == 2  # independent of the widget
    w = vv.VectorVision(lib)
    assert "2 of 6 images need a rescan" in w.banner
    assert vv.VectorVision(full).banner == ""
    w.close()


def test_refresh_keeps_selection_by_path(tmp_path: Path) -> None:
    lib = _library(tmp_path, 6)
    w = vv.VectorVision(lib)
    assert w.wait(30)
    keep = lib.paths[4]
    w.selected = [4]
    lib.remove([lib.paths[0]])
    w.refresh()
    assert w.wait(30)
    assert len(w.cells) == 5 and w.selected_paths == [keep]
    assert len({tuple(c) for c in w.cells}) == 5


def test_rescan_needs_encoders(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 2))
    assert w._can_rescan is False
    with pytest.raises(ValueError, match="needs encoders"):
        w.rescan()


def test_encode_array_shrinks_64_bit_and_is_little_endian() -> None:
    a = np.arange(6, dtype=np.float64).reshape(3, 2) / 3
    b = encode_array(a)
    assert len(b) == 6 * 4
    np.testing.assert_allclose(np.frombuffer(b, "<f4").reshape(3, 2), a, rtol=1e-6)
    assert encode_array(np.array([1, -2], dtype=np.int64)) == np.array([1, -2], "<i4").tobytes()


def test_a_bad_mode_from_the_browser_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = vv.VectorVision(_library(tmp_path, 4), mode="semantic")
    resent: list[Any] = []
    monkeypatch.setattr(w, "send_state", lambda key=None: resent.append(key))
    with pytest.raises(traitlets.TraitError, match="mode must be one of"):
        w.set_state({"mode": "tsne"})  # what a comm update from JS runs
    assert w.mode == "semantic"
    assert ["mode"] in resent and "mode must be one of" in w.error  # the browser is told
    with pytest.raises(ValueError, match="mode must be one of"):  # still a ValueError for Python
        w.mode = "umap"
    assert w.mode == "semantic"
    w.mode = "color"  # aliases still work
    assert w.mode == "colour"
    w.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hybrid_weight", float("nan")),
        ("hybrid_weight", float("inf")),
        ("hybrid_weight", 1.5),
        ("hybrid_weight", -0.1),
        ("search_k", 0),
        ("search_k", 10**7),
        ("thumb_size", 0),
        ("thumb_size", 4096),
        ("k", 0),
        ("k", 101),
        ("hovered", 6),
        ("hovered", -1),
        ("height", 0),
    ],
)
def test_out_of_range_values_are_refused_from_python_and_the_browser(
    tmp_path: Path, name: str, value: Any
) -> None:
    w = vv.VectorVision(_library(tmp_path, 6))
    before = getattr(w, name)
    with pytest.raises(traitlets.TraitError, match=name):
        setattr(w, name, value)
    with pytest.raises(traitlets.TraitError, match=name):
        w.set_state({name: value})
    assert getattr(w, name) == before or (before is None and getattr(w, name) is None)
    assert "table" not in w.progress or w.progress["table"] in ("computing", "ready")
    w.close()


def test_neighbours_range_checks_the_row(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 6), k=3)
    assert w.wait(30)
    assert len(w.neighbours(5)) == 3
    for row in (-1, 6):
        with pytest.raises(IndexError, match="out of range"):
            w.neighbours(row)
    with pytest.raises(TypeError, match="must be an int"):
        w.neighbours(1.0)  # type: ignore[arg-type]
    w.close()


def test_a_failed_background_job_shows_its_error_and_clears_its_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.widget.mapdata as mapdata

    def broken(*_a: Any, **_k: Any) -> Any:
        raise FloatingPointError("neighbour scores are NaN")

    monkeypatch.setattr(mapdata, "neighbours", broken)
    w = vv.VectorVision(_library(tmp_path, 6))
    assert w.wait(30)
    assert "FloatingPointError: neighbour scores are NaN" in w.error
    assert "table" not in w.progress and "som" not in w.progress and "thumbs" not in w.progress
    w.close()


def test_cancelled_layout_clears_its_progress(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 30))
    w.set_layout(np.random.default_rng(0).normal(size=(30, 2)))  # stops the SOM at once
    assert "som" not in w.progress
    assert w.wait(30)
    assert "som" not in w.progress and w.mode == "custom"
    w.close()


def test_mode_keyword_and_ipywidgets_layout(tmp_path: Path) -> None:
    import ipywidgets as widgets

    lib = _library(tmp_path, 4)
    w = vv.VectorVision(lib, mode="semantic", layout=widgets.Layout(width="50%"))
    assert w.mode == "semantic" and w.layout.width == "50%"
    with pytest.warns(DeprecationWarning, match="use mode="):
        old = vv.VectorVision(lib, layout="colour")
    assert old.mode == "colour" and isinstance(old.layout, widgets.Layout)
    with pytest.raises(TypeError, match="once"), pytest.warns(DeprecationWarning):
        vv.VectorVision(lib, mode="visual", layout="semantic")
    # inside containers, and shown twice: one model, so every view shows the same state
    boxes = [widgets.HBox([w]), widgets.VBox([w]), widgets.Tab(children=[w])]
    assert all(b.children[0] is w for b in boxes)
    first, second = (_bundle(w._repr_mimebundle_()) for _ in range(2))
    key = "application/vnd.jupyter.widget-view+json"
    assert first[key]["model_id"] == second[key]["model_id"] == w.model_id
    w.selected = [1]
    assert w.get_state()["selected"] == [1]  # the state both views are given
    for x in (w, old, *boxes):
        x.close()


def _bundle(out: Any) -> dict[str, Any]:
    return out[0] if isinstance(out, tuple) else out


def test_modes_are_sent_to_the_browser_from_one_definition(tmp_path: Path) -> None:
    from vectorvision_widget import modes

    w = vv.VectorVision(_library(tmp_path, 2))
    assert [m[0] for m in w.get_state()["_modes"]] == list(modes.MODES)
    assert modes.MODES == ("visual", "semantic", "hybrid", "colour")
    w.close()


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"p{i}.png"
        Image.new("RGB", (48, 40), COLOURS[i % len(COLOURS)]).save(p)
        out.append(p)
    return out


def test_rescan_is_incremental_saves_to_lib_path_and_says_so(tmp_path: Path, encoders: Any) -> None:
    photos = _photos(tmp_path / "photos", 4)
    lib = vv.Library()
    vv.scan(tmp_path / "photos", lib, encoders=encoders, progress=False)
    lib_file = tmp_path / "lib.json"
    lib.save(lib_file)
    lib = vv.Library.load(lib_file)
    w = vv.VectorVision(lib, encoders=encoders)
    assert w.wait(60)
    Image.new("RGB", (50, 44), (9, 99, 199)).save(tmp_path / "photos" / "new.png")
    photos[0].unlink()
    w.rescan()
    assert w.wait(120)
    rep = w.last_scan
    assert [Path(p).name for p in rep.added] == ["new.png"] and rep.updated == []
    assert [Path(p).name for p in rep.removed] == ["p0.png"] and rep.unchanged == 3
    assert "saved to" in w.status and str(lib_file) in w.status
    assert "scan" not in w.progress and w.error == ""
    again = vv.Library.load(lib_file)  # the rescan's work is on disk
    assert sorted(Path(p).name for p in again.paths) == ["new.png", "p1.png", "p2.png", "p3.png"]
    assert len(w.cells) == 4
    w._requests.handle({"type": "rescan", "force": True})  # Shift+click ⟳ in the toolbar
    assert w.wait(120)
    assert len(w.last_scan.updated) == 4 and w.last_scan.added == []
    w.close()


def test_rescan_without_a_library_file_says_it_did_not_save(tmp_path: Path, encoders: Any) -> None:
    _photos(tmp_path / "photos", 2)
    lib = vv.Library()
    vv.scan(tmp_path / "photos", lib, encoders=encoders, progress=False)
    w = vv.VectorVision(lib, encoders=encoders)
    w.rescan()
    assert w.wait(120)
    assert "not saved" in w.status and w.last_scan.unchanged == 2
    with pytest.raises(TypeError, match="force"):
        w.rescan(force="yes")  # type: ignore[arg-type]
    w.close()


def test_hybrid_weight_changes_rerank_without_recomputing_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.neighbours as similarity

    built: list[int] = []
    original = similarity.HybridNeighbours.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(similarity.HybridNeighbours, "__init__", counting)
    lib = _library(tmp_path, 12)
    w = vv.VectorVision(lib, mode="hybrid", k=3, hybrid_weight=0.5)
    assert w.wait(60)
    tables = {}
    for weight in (0.0, 1.0, 0.3):
        w.hybrid_weight = weight
        assert w.wait(60)
        tables[weight] = [[i for i, _ in w.neighbours(r)] for r in range(12)]
    assert len(built) == 1, "a weight change recomputed the hybrid candidates"
    want_visual, _ = _brute_topk(lib.visual_features, 3)
    assert all(set(tables[1.0][r]) == set(want_visual[r]) for r in range(12))
    want_semantic, _ = _brute_topk(lib.features, 3)
    assert all(set(tables[0.0][r]) == set(want_semantic[r]) for r in range(12))
    w.close()


def test_mode_switches_reuse_the_library_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hybrid first computes each space's candidates once; the visual and semantic Shift+Hover
    tables are then slices of them, not new all-pairs passes."""
    import vectorvision_widget.library.queries as libqueries
    import vectorvision_widget.neighbours as similarity
    import vectorvision_widget.neighbours.join as join
    import vectorvision_widget.neighbours.spaces as spaces

    built: list[int] = []
    real = join.neighbour_table

    def counting(X: Any, k: int, **kw: Any) -> Any:
        built.append(k)
        return real(X, k, **kw)

    for module in (libqueries, similarity, spaces, join):  # every name the table goes by
        monkeypatch.setattr(module, "neighbour_table", counting)
    lib = _library(tmp_path, 14)
    w = vv.VectorVision(lib, mode="hybrid", k=3)
    assert w.wait(60)
    assert built == [12, 12]  # K = 4k candidates per space
    for mode, X in (("visual", lib.visual_features), ("semantic", lib.features)):
        w.mode = mode
        assert w.wait(60)
        want, _ = _brute_topk(X, 3)
        assert all(set(i for i, _ in w.neighbours(r)) == set(want[r]) for r in range(14)), mode
    assert built == [12, 12], "a mode switch recomputed a table the library had"
    w.close()


def test_a_second_rescan_is_refused_while_one_runs_and_refresh_does_not_stop_it(
    tmp_path: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import vectorvision_widget.scanning.engines as scanning

    _photos(tmp_path / "photos", 2)
    lib = vv.Library()
    vv.scan(tmp_path / "photos", lib, encoders=encoders, progress=False)
    gate, calls = threading.Event(), []
    real_scan = scanning.scan

    def slow_scan(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        gate.wait(30)
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(scanning, "scan", slow_scan)
    w = vv.VectorVision(lib, encoders=encoders)
    w.rescan()
    wait_for(lambda: calls == [1])
    with pytest.raises(RuntimeError, match="already running"):
        w.rescan()
    w._requests.handle({"type": "rescan"})  # the ⟳ button: an error in the widget, no 2nd scan
    assert "already running" in w.error
    w.refresh()  # must not cancel the scan
    gate.set()
    assert w.wait(120)
    assert calls == [1] and w.last_scan is not None and "rescan:" in w.status
    w.close()


def test_array_traits_carry_dtype_and_shape_with_the_bytes() -> None:
    from vectorvision_widget.widget.serialize import (
        ArraysTrait,
        ArrayTrait,
        narrow_to_json,
        quantized_to_json,
    )

    class T(traitlets.HasTraits):
        cells = ArrayTrait("int32", cols=2, narrow=True)
        table = ArraysTrait({"idx": "int32", "s": "float32"}, quantize={"s": (-1.0, 1.0)})

    t = T()
    t.cells = [[1, 2], [70_000, 3]]  # does not fit uint16: stays int32
    wire = narrow_to_json(t.cells)
    assert (wire["dtype"], wire["shape"]) == ("int32", [2, 2])
    assert np.frombuffer(bytes(wire["view"]), "<i4").tolist() == [1, 2, 70_000, 3]
    small = narrow_to_json(np.array([[0, 65535]]))
    assert small["dtype"] == "uint16" and bytes(small["view"]) == b"\x00\x00\xff\xff"
    with pytest.raises(traitlets.TraitError, match="2 columns"):
        t.cells = np.zeros((3, 3))
    scores = np.array([[-1.0, 0.25, 1.0, np.nan]], np.float32)
    q = quantized_to_json(scores, -1.0, 1.0)
    assert q["dtype"] == "uint16" and q["range"] == [-1.0, 1.0]
    back = array_from_json(q)
    np.testing.assert_allclose(back[0, :3], [-1.0, 0.25, 1.0], atol=2e-5)
    assert back[0, 3] == -1.0  # NaN never reaches the browser
    t.table = {"idx": np.array([[1]]), "s": np.array([[0.5]])}
    sent = T.class_traits()["table"].metadata["to_json"](t.table, None)
    assert sent["idx"]["dtype"] == "int32" and sent["s"]["range"] == [-1.0, 1.0]
    seen: list[int] = []
    t.observe(lambda c: seen.append(1), "cells")
    same = t.cells
    t.cells = same  # the same array object: no notification, no O(N) comparison
    t.cells = same.copy()
    assert seen == [1]


def test_changing_thumb_size_rebuilds_the_atlases(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 5), thumb_size=16)
    assert w.wait(30)
    sent = capture_sends(w)
    w.thumb_size = 32
    assert w.wait(30)
    tiles = [c["tile"] for c, _ in sent if c["type"] == "atlas"]
    assert tiles == [32] and "thumbs" not in w.progress
    w.close()
