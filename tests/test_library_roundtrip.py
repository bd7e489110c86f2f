"""Whatever loads, saves and loads back equal (property-based), or is refused with
LibraryFormatError naming the file; any path, including names that are not UTF-8."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectorvision_widget import LibraryFormatError
from vectorvision_widget.library.fields import MAX_DEPTH
from vectorvision_widget.library.store import Library

# any code point, lone surrogates included (non-UTF-8 file names decode to them)
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON = st.recursive(
    SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=8
)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def dump(tmp: Path, doc: Any) -> Path:
    """A file as another program might write it (NaN literals, escapes, big ints allowed)."""
    path = tmp / "other.json"
    path.write_text(json.dumps(doc, ensure_ascii=True), encoding="ascii")
    return path


def assert_same(a: Library, b: Library) -> None:
    assert a.paths == b.paths
    assert a.records == b.records
    assert a.roots == b.roots and a.failures == b.failures and a.models == b.models
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.visual_features, b.visual_features)
    np.testing.assert_array_equal(a.has_visual, b.has_visual)


def round_trip(lib: Library, tmp: Path) -> Library:
    out = tmp / "saved.json"
    lib.save(out, overwrite=True)
    back = Library.load(out)
    assert_same(lib, back)
    back.save(tmp / "again.json", overwrite=True)
    assert (tmp / "again.json").read_bytes() == out.read_bytes()  # stable
    return back


def test_non_utf8_paths_and_roots_save_and_load_back(tmp_path: Path) -> None:
    odd = os.fsdecode(b"/photos/caf\xe9/\xff\xfe.jpg")  # surrogateescape: lone surrogates
    lib = Library()
    lib.upsert({"path": odd, "note": os.fsdecode(b"\x80")}, [1.0, 0.0], [0.0, 1.0])
    lib.roots = [os.fsdecode(b"/photos/caf\xe9")]
    lib.failures = [{"path": os.fsdecode(b"/photos/caf\xe9/bad\xe9.jpg"), "error": "truncated"}]
    back = round_trip(lib, tmp_path)
    assert os.fsencode(back.paths[0]) == b"/photos/caf\xe9/\xff\xfe.jpg"
    assert os.fsencode(back.roots[0]) == b"/photos/caf\xe9"


@SETTINGS
@given(
    paths=st.lists(TEXT.filter(bool), min_size=1, max_size=5, unique=True),
    extras=st.lists(st.dictionaries(TEXT, JSON, max_size=3), min_size=5, max_size=5),
    roots=st.lists(TEXT, max_size=3),
)
def test_python_records_round_trip(
    tmp_path: Path, paths: list[str], extras: list[dict[str, Any]], roots: list[str]
) -> None:
    n = len(paths)
    rng = np.random.default_rng(n)
    records = [{**extras[i], "path": p} for i, p in enumerate(paths)]
    lib = Library.from_arrays(paths, rng.normal(size=(n, 3)), rng.normal(size=(n, 2)), records)
    lib.roots = roots
    round_trip(lib, tmp_path)


@SETTINGS
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {"path": TEXT, "features": st.lists(st.floats(-10, 10), min_size=1, max_size=3)},
            optional={
                "keywords": JSON,
                "color": JSON,
                "palette": JSON,
                "visualFeatures": JSON,
                "extra": JSON,
            },
        ),
        max_size=4,
    ),
    top=st.dictionaries(st.sampled_from(["models", "roots", "failures", "version"]), JSON),
)
def test_any_file_that_loads_round_trips(
    tmp_path: Path, records: list[dict[str, Any]], top: dict[str, Any]
) -> None:
    path = dump(tmp_path, {"format": "vectorvision-library", **top, "images": records})
    try:
        lib = Library.load(path)
    except LibraryFormatError as exc:
        assert str(path) in str(exc)
        return
    round_trip(lib, tmp_path)


@SETTINGS
@given(doc=JSON)
def test_garbage_is_refused_with_library_format_error(tmp_path: Path, doc: Any) -> None:
    path = dump(tmp_path, doc)
    try:
        lib = Library.load(path)
    except LibraryFormatError as exc:
        assert str(path) in str(exc)
        return
    round_trip(lib, tmp_path)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting_loads_back_or_is_refused(tmp_path: Path) -> None:
    ok = {"images": [{"path": "/a.jpg", "features": [1.0], "deep": nested(MAX_DEPTH - 5)}]}
    round_trip(Library.load(dump(tmp_path, ok)), tmp_path)
    bad = {"images": [{"path": "/a.jpg", "features": [1.0], "deep": nested(MAX_DEPTH + 5)}]}
    with pytest.raises(LibraryFormatError, match="nested deeper"):
        Library.load(dump(tmp_path, bad))
    lib = Library()
    with pytest.raises(ValueError, match="nested deeper"):  # upsert refuses it up front
        lib.upsert({"path": "/a.jpg", "deep": nested(MAX_DEPTH + 5)}, [1.0])
    assert len(lib) == 0


def test_nan_scores_and_odd_values_are_made_storable(tmp_path: Path) -> None:
    lib = Library()
    rec = {
        "path": "/a.jpg",
        "keywords": [{"label": "x", "score": math.nan}],
        "when": (1, 2),
        "n": np.int64(3),
        "f": math.inf,
        "where": Path("/x"),
    }
    lib.upsert(rec, [1.0, 2.0])
    assert lib.records[0]["keywords"] == [{"label": "x", "score": 0.0}]
    assert lib.records[0]["when"] == [1, 2] and lib.records[0]["f"] is None
    round_trip(lib, tmp_path)
    with pytest.raises(ValueError, match="cannot be stored"):
        lib.upsert({"path": "/b.jpg", "obj": object()}, [1.0, 2.0])


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"features": {"dtype": "float32", "b64": ""}}, "empty"),
        ({"features": [1.0], "color": "rgb(.,1,2)"}, None),  # unreadable colour: dropped
        ({"features": [1e400]}, "non-finite|non-numbers"),
        ({"features": [10**400]}, "non-finite|non-numbers"),
    ],
)
def test_malformed_values_raise_library_format_error(
    tmp_path: Path, record: dict[str, Any], match: str | None
) -> None:
    doc = {"images": [{"path": "/a.jpg", **record}, {"path": "/b.jpg", **record}]}
    path = tmp_path / "lib.json"
    path.write_text(json.dumps(doc))
    if match is None:
        assert Library.load(path).records[0]["color"] is None
        return
    with pytest.raises(LibraryFormatError, match=match) as info:
        Library.load(path)
    assert str(path) in str(info.value)


def test_streamed_layout_is_plain_json_and_checked(tmp_path: Path) -> None:
    lib = Library.from_arrays(["/a.jpg", "/b.jpg"], np.eye(2), np.eye(2))
    path = tmp_path / "lib.json"
    lib.save(path)
    text = path.read_text()
    doc = json.loads(text)  # any JSON reader can read it
    assert doc["count"] == 2 and len(doc["images"]) == 2
    lines = text.splitlines()
    assert len(lines) == 4 and lines[-1] == "]}"
    cases = {
        "count": text.replace('"count":2', '"count":3'),
        "comma": text.replace("},\n", "}\n", 1),
        "JSON": text[:-10],
    }
    for name, bad in cases.items():
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(LibraryFormatError, match=name if name != "comma" else "comma|header"):
            Library.load(tmp_path / "bad.json")


def test_streamed_batches_report_the_right_record(tmp_path: Path) -> None:
    n = 600  # more than one batch of lines
    rng = np.random.default_rng(0)
    lib = Library.from_arrays([f"/p/{i}.jpg" for i in range(n)], rng.normal(size=(n, 6)))
    path = tmp_path / "lib.json"
    lib.save(path)
    back = Library.load(path)
    np.testing.assert_array_equal(back.features, lib.features)
    lines = path.read_text().split("\n")
    bad = list(lines)
    bad[1 + 400] = bad[1 + 400].replace('"b64":"', '"b64":"!!!!', 1)  # record 400
    (tmp_path / "bad.json").write_text("\n".join(bad))
    with pytest.raises(LibraryFormatError, match=r"record 400 .*base64"):
        Library.load(tmp_path / "bad.json")
    two = list(lines)  # two records on one line: still valid JSON, read as one document
    two[1 + 10] = two[1 + 10] + two[1 + 11]
    del two[1 + 11]
    (tmp_path / "two.json").write_text("\n".join(two))
    np.testing.assert_array_equal(Library.load(tmp_path / "two.json").features, lib.features)
