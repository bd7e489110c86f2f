"""Browser → kernel requests: every field validated, every request answered, no file can wedge.

The widget is driven through ``BrowserRequests.handle`` exactly as ``model.send`` would, with
``w.send`` captured; special files are real ones (``os.mkfifo``), not mocks.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import capture_sends, wait_for
from PIL import Image

import vectorvision_widget as vv

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20)]


def _library(tmp_path: Path, n: int = 4, extra_paths: tuple[str, ...] = ()) -> Any:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"img_{i}.png"
        Image.new("RGB", (40, 30), COLOURS[i % len(COLOURS)]).save(p)
        paths.append(str(p))
    paths += list(extra_paths)
    records = [{"path": p, "color": list(COLOURS[i % len(COLOURS)])} for i, p in enumerate(paths)]
    m = len(paths)
    return vv.Library.from_arrays(
        paths, rng.normal(size=(m, 8)), rng.normal(size=(m, 6)), records=records
    )


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ({"type": "thumbs", "rows": "0,1", "size": 64}, "'rows' must be a list"),
        ({"type": "thumbs", "rows": [0, "1"], "size": 64}, "holds a str"),
        ({"type": "thumbs", "rows": list(range(300)), "size": 64}, "at most 256"),
        ({"type": "thumbs", "rows": [0], "size": True}, "'size' must be an integer"),
        ({"type": "thumbs", "rows": [0], "size": 10**9}, "'size' must be in"),
        ({"type": "thumbs", "rows": [0], "size": 64, "req": -1}, "'req' must be in"),
        ({"type": "info", "row": -1}, "'row' must be in"),
        ({"type": "info", "row": 4}, "'row' must be in"),
        ({"type": "info"}, "'row' must be an integer"),
        ({"type": "rescan", "force": "yes"}, "'force' must be true or false"),
        ({"type": "drop_tables"}, "unknown request type"),
        ([1, 2, 3], "unknown request type"),
    ],
)
def test_bad_fields_are_refused_with_a_named_error(
    tmp_path: Path, content: Any, error: str
) -> None:
    w = vv.VectorVision(_library(tmp_path))
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle(content)  # never raises into the kernel
    time.sleep(0.1)
    assert error in w.error, w.error
    assert not [c for c, _ in sent if c.get("type") in ("thumbs", "info")]
    w.close()


def test_an_exception_while_cutting_thumbnails_is_answered_and_shown(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path))
    assert w.wait(30)
    sent = capture_sends(w)

    def broken(*_a: Any, **_k: Any) -> bytes:
        raise MemoryError("decoder ran out of memory")

    w._work.sharp.get = broken
    w._requests.handle({"type": "thumbs", "rows": [0, 1], "size": 64, "req": 3})
    wait_for(lambda: sent and "MemoryError" in w.error)
    reply = sent[0][0]
    assert reply["type"] == "thumbs" and reply["req"] == 3
    assert reply["rows"] == [] and sorted(reply["failed"]) == [0, 1]
    w.close()


def test_a_fifo_in_the_library_never_blocks_thumbnails_or_info(tmp_path: Path) -> None:
    fifo = tmp_path / "looks_like.jpg"
    os.mkfifo(fifo)  # nobody ever writes: open() for reading would block forever
    w = vv.VectorVision(_library(tmp_path, 3, (str(fifo),)), thumb_size=16)
    assert w.wait(30), "the atlas job blocked on the FIFO"
    assert "looks_like.jpg" in w.error and "not a regular file" in w.error
    sent = capture_sends(w)
    w._requests.handle({"type": "hello"})
    (head, (jpeg,)), *_ = [(c, b) for c, b in sent if c["type"] == "atlas"]
    assert head["count"] == 4  # the FIFO row has a placeholder tile, the others real ones
    img = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), float)
    assert np.abs(img[4:12, 4:12].reshape(-1, 3).mean(0) - COLOURS[0]).max() < 25
    for _ in range(3):  # more requests than the pool has workers
        w._requests.handle({"type": "info", "row": 3})
        w._requests.handle({"type": "thumbs", "rows": [3, 1], "size": 64, "req": 1})
    w._requests.handle({"type": "info", "row": 0})
    wait_for(lambda: len([c for c, _ in sent if c["type"] in ("info", "thumbs")]) >= 7, 10)
    infos = {c["row"]: c["meta"] for c, _ in sent if c["type"] == "info"}
    assert infos[3]["unreadable"] is True and infos[3]["problem"] == "not a regular file"
    assert infos[0]["unreadable"] is False
    thumbs = [c for c, _ in sent if c["type"] == "thumbs"]
    assert all(t["rows"] == [1] and t["failed"] == [3] for t in thumbs)
    w.close()


def test_nul_byte_and_lone_surrogate_paths_get_placeholders_and_a_named_error(
    tmp_path: Path,
) -> None:
    bad = (str(tmp_path / "nul\x00byte.jpg"), str(tmp_path / "lone\ud800.jpg"))
    w = vv.VectorVision(_library(tmp_path, 2, bad), thumb_size=16)
    assert w.wait(30)
    assert "nul\\x00byte.jpg" in w.error and "lone\\ud800.jpg" in w.error
    sent = capture_sends(w)
    w._requests.handle({"type": "hello"})
    assert [c["count"] for c, _ in sent if c["type"] == "atlas"] == [4]
    w._requests.handle({"type": "info", "row": 3})
    wait_for(lambda: any(c["type"] == "info" for c, _ in sent))
    meta = next(c for c, _ in sent if c["type"] == "info")["meta"]
    json.dumps(meta, ensure_ascii=False).encode("utf-8")  # what the comm does: must not raise
    assert meta["unreadable"] is True and "\\ud800" in meta["path"]
    w.close()


def test_info_survives_odd_record_fields(tmp_path: Path) -> None:
    lib = _library(tmp_path, 2)
    rec = lib.records[1]
    rec["keywords"] = [{"label": "cat", "score": math.nan}, "dog", {"className": "x"}]
    rec["size"], rec["width"], rec["palette"] = "12345", "wide", [[1, 2, 3], ["a"], [999, 0, 0]]
    w = vv.VectorVision(lib)
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle({"type": "info", "row": 1})
    wait_for(lambda: bool(sent))
    meta = json.loads(json.dumps(sent[0][0]["meta"], allow_nan=False))  # as on the wire; no NaN
    assert meta["keywords"] == [["cat", None], ["dog", None], ["x", None]]
    assert meta["size"] == 12345 and meta["width"] is None and meta["palette"] == [[1, 2, 3]]
    w.close()


def test_rescan_request_passes_force_to_the_widget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = vv.VectorVision(_library(tmp_path))
    calls: list[bool] = []
    monkeypatch.setattr(w, "rescan", lambda force=False: calls.append(force))
    w._requests.handle({"type": "rescan", "force": True})
    w._requests.handle({"type": "rescan"})
    assert calls == [True, False]
    w.close()


def _emoji_file(path: Path) -> None:
    from PIL import ImageDraw

    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((12, 12, 52, 52), fill=(250, 200, 0, 255))
    rgba.save(path)


def test_info_names_the_folder_from_the_scan_root_and_date_and_camera(tmp_path: Path) -> None:
    root = tmp_path / "emoji"
    for vendor in ("apple", "google"):
        (root / vendor).mkdir(parents=True)
        _emoji_file(root / vendor / "flushed.png")
    paths = [str(root / "apple" / "flushed.png"), str(root / "google" / "flushed.png")]
    rng = np.random.default_rng(0)
    records: list[dict[str, Any]] = [
        {"path": paths[0], "taken": "2023-06-01T14:02:33", "camera": "Canon EOS 5D"},
        {"path": paths[1], "keywords": [{"label": "grey", "score": 1.0}, "face"]},
    ]
    records[1].update(color=[250, 200, 0], transparent=0.6)  # what a scan stores for an emoji
    lib = vv.Library.from_arrays(
        paths, rng.normal(size=(2, 8)), rng.normal(size=(2, 6)), records=records
    )
    lib.roots = [str(root)]
    w = vv.VectorVision(lib)
    assert w.wait(30)
    sent = capture_sends(w)
    w._requests.handle({"type": "info", "row": 0})
    w._requests.handle({"type": "info", "row": 1})
    wait_for(lambda: len(sent) >= 2)
    metas = {m[0]["row"]: m[0]["meta"] for m in sent}
    assert metas[0]["name"] == metas[1]["name"] == "flushed.png"
    assert (metas[0]["folder"], metas[1]["folder"]) == ("emoji/apple", "emoji/google")
    assert (metas[0]["taken"], metas[0]["camera"]) == ("2023-06-01T14:02:33", "Canon EOS 5D")
    assert metas[1]["taken"] is None and metas[1]["camera"] is None  # before the meta fields
    assert [k[0] for k in metas[1]["keywords"]] == ["face"]  # "grey" was the backdrop
    w.close()


def test_small_sources_get_only_the_sharp_sizes_they_fill(tmp_path: Path) -> None:
    root = tmp_path / "icons"
    root.mkdir()
    paths = []
    for i in range(3):
        _emoji_file(root / f"e{i}.png")
        paths.append(str(root / f"e{i}.png"))
    rng = np.random.default_rng(0)
    records = [{"path": p, "width": 64, "height": 64} for p in paths]
    lib = vv.Library.from_arrays(
        paths, rng.normal(size=(3, 8)), rng.normal(size=(3, 6)), records=records
    )
    w = vv.VectorVision(lib)
    assert w._sharp_sizes == [16, 32, 64]  # the browser's zoom stops at 2 × 64 px per cell
    w.close()
    photos = [{**r, "width": 4000, "height": 3000} for r in records]
    lib2 = vv.Library.from_arrays(
        paths, rng.normal(size=(3, 8)), rng.normal(size=(3, 6)), records=photos
    )
    w2 = vv.VectorVision(lib2)
    assert w2._sharp_sizes == [16, 32, 64, 128, 256]
    w2.close()
