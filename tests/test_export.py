"""`w.save_html`: what the file holds (decoded here independently of the page's code), the size
it reports and its refusals. The page itself is driven in tests/browser/test_saved_map.py."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_widget import _library

import vectorvision_widget as vv
from vectorvision_widget.widget.export import ExportTooLargeError


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    text = path.read_text(encoding="utf-8")

    def block(name: str) -> str:
        m = re.search(rf'<script type="[^"]+" id="{name}">(.*?)</script>', text, re.S)
        assert m, name
        return m.group(1)

    return json.loads(block("vv-manifest")), base64.b64decode(block("vv-bin"))


def _bytes(ref: dict[str, list[int]], blob: bytes) -> bytes:
    off, n = ref["$bin"]
    return blob[off : off + n]


def test_the_file_holds_cells_table_atlases_tooltips_and_search_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = _library(tmp_path, 12)
    w = vv.VectorVision(lib, k=4)
    out = tmp_path / "map.html"
    size = w.save_html(out, title="My <map>")
    assert size == out.stat().st_size
    assert f"{out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "<title>My &lt;map&gt;</title>" in text
    assert "http://" not in text.replace("http://www.w3.org", "")  # nothing fetched
    manifest, blob = _read(out)
    state = manifest["state"]
    cells = np.frombuffer(_bytes(state["_cells"]["view"], blob), state["_cells"]["dtype"])
    np.testing.assert_array_equal(cells.reshape(-1, 2), w.cells)
    idx = state["_table"]["idx"]
    table = np.frombuffer(_bytes(idx["view"], blob), idx["dtype"]).reshape(idx["shape"])
    assert [int(i) for i in table[3] if i >= 0] == [r for r, _ in w.neighbours(3)]
    assert state["_can_rescan"] is False
    assert [m[0] for m in state["_modes"]] == [w.mode]
    assert "_esm" not in state and "layout" not in state
    assert sum(a["msg"]["count"] for a in manifest["atlases"]) == len(lib)
    for a in manifest["atlases"]:
        Image.open(io.BytesIO(_bytes({"$bin": a["bufs"][0]}, blob))).verify()
    info = manifest["infos"][2]
    assert info["msg"]["meta"]["name"] == "img_02.png"
    thumb = Image.open(io.BytesIO(_bytes({"$bin": info["bufs"][0]}, blob)))
    assert max(thumb.size) == 42  # the source is 42 x 30: never enlarged
    assert manifest["search"][0] == "img_00.png red"
    assert state["_sharp_sizes"] == [16, 32, 64, 128]


def test_tooltip_px_zero_keeps_no_images(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 6))
    small = w.save_html(tmp_path / "a.html", tooltip_px=0)
    big = w.save_html(tmp_path / "b.html")
    manifest, _ = _read(tmp_path / "a.html")
    assert all(i["bufs"] == [] for i in manifest["infos"])
    assert manifest["state"]["_sharp_sizes"] == []
    assert small < big


def test_a_map_over_the_limit_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    w = vv.VectorVision(_library(tmp_path, 12))
    out = tmp_path / "map.html"
    with pytest.raises(ExportTooLargeError, match=r"over the limit of .* tooltip_px"):
        w.save_html(out, max_bytes=4000)
    assert not out.exists()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("bad", [-1, 513, 1.5, True])
def test_a_bad_tooltip_size_is_refused(tmp_path: Path, bad: Any) -> None:
    w = vv.VectorVision(_library(tmp_path, 3))
    with pytest.raises(ValueError, match="tooltip_px"):
        w.save_html(tmp_path / "m.html", tooltip_px=bad)


def test_an_empty_library_saves_an_empty_map(tmp_path: Path) -> None:
    w = vv.VectorVision(vv.Library())
    w.save_html(tmp_path / "m.html")
    manifest, _ = _read(tmp_path / "m.html")
    assert manifest["infos"] == [] and manifest["atlases"] == []
