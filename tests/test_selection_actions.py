"""Actions on the selection from the browser: the `tag` request (lib.tag / lib.untag on the
kernel's selection), `paths` for the clipboard, `names` for the neighbour panel; each request
validated by protocol.py first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import capture_sends

import vectorvision_widget as vv
from vectorvision_widget.widget.protocol import BadRequestError, parse_request


def _widget(tmp_path: Path, n: int = 5) -> Any:
    paths = [str(tmp_path / f"img_{i}.jpg") for i in range(n)]
    for p in paths:
        Path(p).write_bytes(b"x")
    rng = np.random.default_rng(0)
    lib = vv.Library.from_arrays(paths, rng.normal(size=(n, 4)), rng.normal(size=(n, 4)))
    w = vv.VectorVision(lib)
    w.wait(30)
    return w


def test_tag_request_tags_and_untags_the_selection(tmp_path: Path) -> None:
    w = _widget(tmp_path)
    lib = w.library
    w.selected = [1, 3]
    w._requests.handle({"type": "tag", "names": [" trip ", "2023"]})
    assert lib.tagged("trip") == [1, 3] and lib.tagged("2023") == [1, 3]
    assert w.status == "tagged 2 of 2 selected: trip, 2023" and w.error == ""
    w.selected = [3, 4]
    w._requests.handle({"type": "tag", "names": ["trip"], "remove": True})
    assert lib.tagged("trip") == [1]
    assert w.status == "untagged 1 of 2 selected: trip"
    w.close()


def test_tag_request_errors_are_shown_not_raised(tmp_path: Path) -> None:
    w = _widget(tmp_path)
    w._requests.handle({"type": "tag", "names": ["x"]})
    assert "select images first" in w.error
    w.selected = [0]
    w._requests.handle({"type": "tag", "names": ["   "]})
    assert "non-empty" in w.error and w.library.tag_counts() == {}
    w._requests.handle({"type": "tag", "names": "trip"})
    assert "names" in w.error and "list" in w.error
    w.close()


def test_protocol_checks_tag_names() -> None:
    assert parse_request({"type": "tag", "names": ["a"], "extra": 1}) == {
        "type": "tag",
        "names": ["a"],
    }
    with pytest.raises(BadRequestError, match="at most 16 strings"):
        parse_request({"type": "tag", "names": ["a"] * 17})
    with pytest.raises(BadRequestError, match="at most 200 characters"):
        parse_request({"type": "tag", "names": ["a" * 201]})
    with pytest.raises(BadRequestError, match="at most 200 characters"):
        parse_request({"type": "tag", "names": [3]})
    with pytest.raises(BadRequestError, match="true or false"):
        parse_request({"type": "tag", "names": ["a"], "remove": "yes"})


def test_paths_and_names_requests_answer_with_the_kernel_data(tmp_path: Path) -> None:
    w = _widget(tmp_path)
    sent = capture_sends(w)
    w.selected = [4, 0]
    w._requests.handle({"type": "paths"})
    w._requests.handle({"type": "names", "rows": [2, 99, 0]})
    paths = w.library.paths
    assert sent[0][0] == {"type": "paths", "paths": [paths[4], paths[0]], "version": 1}
    assert sent[1][0] == {
        "type": "names",
        "rows": [2, 0],
        "names": ["img_2.jpg", "img_0.jpg"],
        "version": 1,
    }
    w.close()
