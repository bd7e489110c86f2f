"""The widget's finding tools (no browser): region labels, the filter trait, query by image,
more/less like the selection, and the search count. Expected rows come from `lib.where`,
`lib.similar_to_image` and `lib.similar_to_rows` called directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import traitlets
from helpers import capture_sends
from PIL import Image

import vectorvision_widget as vv
from vectorvision_widget.library import Library
from vectorvision_widget.library.filters import FILTER_KEYS
from vectorvision_widget.widget import finding


def meta_library(n: int = 60) -> Library:
    rng = np.random.default_rng(0)
    paths = [f"/photos/{'trip' if i < n // 2 else 'home'}/img{i:03d}.jpg" for i in range(n)]
    lib = vv.Library.from_arrays(paths, rng.normal(size=(n, 8)), rng.normal(size=(n, 6)))
    fields = {
        i: {
            "keywords": [{"label": "beach" if i % 3 else "cat", "score": 0.4}],
            "camera": "Canon EOS" if i % 2 else None,
            "taken": f"2023-{1 + i % 12:02d}-05T10:00:00",
        }
        for i in range(n)
    }
    lib.update_fields(fields)
    return lib


def test_labels_follow_the_layout_and_can_be_replaced() -> None:
    w = vv.VectorVision(meta_library())
    assert w.wait(60)
    assert w.labels, "labels are computed once the layout is done"
    for lab in w.labels:
        assert {"text", "row", "x", "y", "level"} <= set(lab)
        assert lab["text"] in ("beach", "cat")
        r, c = w.cells[lab["row"]]
        assert 0 <= r < w._grid[0] and 0 <= c < w._grid[1]
    w.labels = [{"text": "mine", "row": 4}]
    r, c = w.cells[4]
    assert w.labels == [{"text": "mine", "row": 4, "level": 0, "x": c + 0.5, "y": r + 0.5}]
    w.mode = "semantic"  # a new layout keeps custom labels, re-placed at their rows
    assert w.wait(60)
    r, c = w.cells[4]
    assert (w.labels[0]["x"], w.labels[0]["y"]) == (c + 0.5, r + 0.5)
    with pytest.raises(traitlets.TraitError, match="row"):
        w.labels = [{"text": "bad", "row": 999}]
    w.reset_labels()
    assert w.wait(60)
    assert w.labels and w.labels[0]["text"] in ("beach", "cat")


def test_filter_round_trips_with_lib_where() -> None:
    lib = meta_library()
    w = vv.VectorVision(lib)
    assert w.filter == {} and w.filter_count is None and w._filter_mask == b""
    cases: list[dict[str, Any]] = [
        {"camera": "canon eos"},
        {"folder": "/photos/trip", "taken": ("2023-03", None)},
        {"keywords": ["cat"], "camera": ["Canon EOS"]},
        {"has_gps": False},
    ]
    for f in cases:
        w.filter = f
        expected = lib.where(**f)
        assert w.filter_count == len(expected)
        bits = np.unpackbits(np.frombuffer(w._filter_mask, np.uint8))[: len(lib)]
        assert np.flatnonzero(bits).tolist() == expected
        assert lib.where(**w.filter) == expected  # the trait is lib.where's arguments
    w.filter = {"camera": None, "tags": []}  # empty fields mean no filter
    assert w.filter == {} and w.filter_count is None
    opts = w._filter_options
    assert opts["cameras"] == ["Canon EOS"] and set(opts["keywords"]) == {"beach", "cat"}
    assert "/photos/trip" in opts["folders"] and opts["taken"] == ["2023-01-05", "2023-12-05"]


def test_a_bad_filter_is_refused_with_the_reason() -> None:
    w = vv.VectorVision(meta_library())
    w.filter = {"camera": "Canon EOS"}
    for bad, match in [
        ({"camra": "x"}, "did you mean 'camera'"),
        ({"taken": ("2024", "2023")}, "after the end"),
        ({"taken": "2023"}, "pair"),
        ({"has_gps": "yes"}, "has_gps"),
        ({"tags": [3]}, "tags"),
        ("camera", "dict"),
    ]:
        with pytest.raises(traitlets.TraitError, match=match):
            w.filter = bad
        assert w.filter == {"camera": "Canon EOS"}  # the old filter stays
    assert set(FILTER_KEYS) >= {"folder", "taken", "camera", "tags", "keywords"}


def test_filter_follows_tag_changes_on_refresh_filter() -> None:
    lib = meta_library()
    w = vv.VectorVision(lib)
    w.filter = {"tags": ["keep"]}
    assert w.filter_count == 0
    lib.tag([1, 2, 3], "keep")
    w.refresh_filter()
    assert w.filter_count == 3 and w._filter_options["tags"] == ["keep"]


def test_browser_filter_that_fails_validation_is_rolled_back() -> None:
    w = vv.VectorVision(meta_library())
    with pytest.raises(traitlets.TraitError):
        w.set_state({"filter": {"taken": ["not a date", None]}})
    assert w.filter == {} and "date" in w.error


# --- query by image, more / less like --------------------------------------------------------


def pictures(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        path = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
        out.append(path)
    return out


@pytest.fixture
def scanned(tmp_path: Path, encoders: Any) -> tuple[Library, list[Path]]:
    files = pictures(tmp_path / "pics", 8)
    lib = Library()
    vv.scan(tmp_path / "pics", lib, encoders=encoders, progress=False, thumbs=False)
    return lib, files


def test_query_image_path_pil_and_bytes_highlight_like_a_search(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, files = scanned
    w = vv.VectorVision(lib, encoders=encoders, search_k=4)
    w.query = "something"
    expected = [r for r, _ in lib.similar_to_image(files[2], encoders=encoders, k=4)]
    hits = w.query_image(files[2])
    assert [r for r, _ in hits] == expected == w.highlighted
    assert w.query == "" and w.search_total is None and w._hit_what == "image p2.png"
    w.highlighted = []
    w.query_image(Image.open(files[2]).convert("RGB"))
    assert w.highlighted == expected
    w.highlighted = []
    w.query_image(files[2].read_bytes(), space="semantic", k=3)
    assert w.highlighted == [
        r for r, _ in lib.similar_to_image(files[2], encoders=encoders, k=3, space="semantic")
    ]


def test_query_image_needs_encoders_and_a_valid_k(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, files = scanned
    with pytest.raises(ValueError, match="needs encoders"):
        vv.VectorVision(lib).query_image(files[0])
    w = vv.VectorVision(lib, encoders=encoders)
    with pytest.raises(ValueError, match="k must be"):
        w.query_image(files[0], k=0)


def test_dropped_image_bytes_arrive_as_a_request(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, files = scanned
    w = vv.VectorVision(lib, encoders=encoders, search_k=3)
    capture_sends(w)
    data = files[5].read_bytes()
    msg = {"type": "query_image", "name": "drop.png", "size": len(data), "space": "visual"}
    w._requests.handle(msg, [data])
    assert w.wait(30)
    assert w.highlighted == [r for r, _ in lib.similar_to_image(data, encoders=encoders, k=3)]
    assert w._hit_what == "image drop.png" and w.error == ""
    w._requests.handle({**msg, "size": len(data) + 1}, [data])  # size and buffer disagree
    assert "buffer" in w.error
    w._requests.handle({**msg, "size": 10**12}, [data])  # over the limit
    assert "size" in w.error
    w.error = ""
    w._requests.handle(msg, [b"not an image" + bytes(len(data) - 12)])
    assert w.wait(30)
    assert w.error  # a file that is not an image is reported, never raised


def test_more_and_less_like_the_selection(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, _files = scanned
    w = vv.VectorVision(lib, encoders=encoders, search_k=3)
    with pytest.raises(ValueError, match="select some images"):
        w.more_like_selection()
    w.selected = [0, 1]
    rows = w.more_like_selection()
    assert rows == w.highlighted == [r for r, _ in lib.similar_to_rows([0, 1], k=3)]
    w.selected = [rows[0]]
    less = w.less_like_selection()
    assert less == [r for r, _ in lib.similar_to_rows([0, 1], k=3, negative=[rows[0]])]
    assert "less like 1" in w._hit_what
    w._requests.handle({"type": "like", "more": True}, [])
    assert w.error == "" and w.highlighted
    w.query = "x"  # a new search forgets the feedback
    w.selected = [2]
    w.highlighted = []
    with pytest.raises(ValueError, match="needs images to be like"):
        w.less_like_selection()


# --- the search count ------------------------------------------------------------------------


def test_search_count_without_encoders_counts_name_and_keyword_matches() -> None:
    lib = meta_library()
    w = vv.VectorVision(lib, search_k=5)
    w.query = "cat"
    assert w.wait(30)
    matching = [i for i in range(len(lib)) if i % 3 == 0]
    assert w.search_total == len(matching) == 20
    assert w.highlighted == matching[:5]
    w.query = ""
    assert w.search_total is None


def test_search_count_with_encoders_uses_the_calibrated_boundary(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, _ = scanned
    rows, total = finding.text_search(lib, "red", 3, encoders)
    ranked = lib.search("red", encoders=encoders, k=len(lib))
    zs = encoders.meaning.zero_shot
    if zs.calibrated:
        boundary = -zs.logit_bias / zs.logit_scale
        expected = [r for r, s in ranked if s >= boundary]
    else:
        expected = [r for r, _ in ranked if "red" in lib.paths[r]]
    assert total == len(expected)
    assert rows == (expected[:3] if expected else [r for r, _ in ranked[:3]])
