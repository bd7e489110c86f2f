"""The library file: round trips, legacy formats, malformed files, atomic saves."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectorvision_widget.library.format as libformat
from vectorvision_widget import LibraryFormatError
from vectorvision_widget.library.store import Library

REPO = Path(__file__).resolve().parents[1]


def make_library(
    n: int = 12, df: int = 16, dv: int = 8, missing: tuple[int, ...] = (3,)
) -> Library:
    rng = np.random.default_rng(n)
    feats = rng.normal(size=(n, df))
    vis = rng.normal(size=(n, dv))
    vis[list(missing)] = 0.0
    records = [
        {
            "path": f"/photos/ünï {i}.jpg",
            "keywords": [
                {"label": "beach", "score": 0.5 - i / 100},
                {"label": "sky", "score": 0.1},
            ],
            "color": [i, 2 * i, 3 * i],
            "palette": [[i, 0, 0], [0, i, 0], [0, 0, i]],
            "width": 100 + i,
            "height": 50,
            "size": 1000 * i,
            "mtime": 1.7e9 + i / 3,
            "sha256": f"{i:064x}",
            "custom": {"kept": True},
        }
        for i in range(n)
    ]
    lib = Library.from_arrays([r["path"] for r in records], feats, vis, records=records)
    lib.models = {
        "features": {"name": "siglip", "sha256": "a" * 64, "dim": df},
        "visualFeatures": {"name": "dinov2", "sha256": "b" * 64, "dim": dv},
    }
    lib.roots = ["/photos"]
    lib.failures = [{"path": "/photos/broken.jpg", "error": "truncated JPEG"}]
    return lib


def assert_same(a: Library, b: Library) -> None:
    assert a.paths == b.paths
    assert np.array_equal(a.features, b.features)
    assert np.array_equal(a.visual_features, b.visual_features)
    assert np.array_equal(a.has_visual, b.has_visual)
    assert a.records == b.records
    assert a.models == b.models
    assert a.roots == b.roots
    assert a.failures == b.failures


@pytest.mark.parametrize("vectors", ["b64", "list"])
def test_round_trip(tmp_path: Path, vectors: str) -> None:
    lib = make_library()
    path = tmp_path / "lib.json"
    lib.save(path, vectors=vectors)
    again = Library.load(path)
    assert_same(lib, again)
    assert again.has_visual.tolist() == [i != 3 for i in range(12)]
    # read the file independently: stdlib json + base64 of little-endian float32
    doc = json.loads(path.read_text("utf-8"))
    assert (doc["format"], doc["version"]) == ("vectorvision-library", 2)
    img0, img3 = doc["images"][0], doc["images"][3]
    assert "visualFeatures" not in img3
    if vectors == "b64":
        assert img0["features"]["dtype"] == "float32"
        raw = np.frombuffer(base64.b64decode(img0["features"]["b64"]), dtype="<f4")
    else:
        raw = np.array(img0["features"], dtype=np.float32)
    assert np.array_equal(raw, lib.features[0])
    assert [p for p in tmp_path.iterdir() if p.suffix != ".lock"] == [
        path
    ]  # no temp files left behind


def test_b64_rows_with_and_without_padding() -> None:
    rng = np.random.default_rng(0)
    for dim in (3, 4, 5, 6):  # 12, 16, 20, 24 bytes per row: some rows pad, some do not
        mat = rng.normal(size=(7, dim)).astype(np.float32)
        rows = libformat._b64_rows(mat)
        expected = [base64.b64encode(r.astype("<f4").tobytes()).decode() for r in mat]
        assert rows == expected


def test_empty_library_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    Library().save(path)
    lib = Library.load(path)
    assert len(lib) == 0
    assert lib.features.shape[0] == 0


def test_save_rejects_unknown_vector_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'b64' or 'list'"):
        make_library().save(tmp_path / "x.json", vectors="xml")


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lib.json"
    make_library(5).save(path)
    before = path.read_bytes()

    def boom(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        make_library(9).save(path, overwrite=True)
    assert path.read_bytes() == before
    assert [p for p in tmp_path.iterdir() if p.suffix != ".lock"] == [path]


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float64)
    return (a / np.linalg.norm(a)).astype(np.float32)


def test_legacy_object_keyed_by_path(tmp_path: Path) -> None:
    # the reference desktop app's layout: no format key, no visualFeatures, MobileNet-style tags
    doc = {
        "/old/a.jpg": {
            "features": [3.0, 4.0, 0.0, 0.0],
            "color": [10, 20, 30],
            "palette": [[10, 20, 30], [200, 0, 0]],
            "keywords": [{"className": "tabby, tabby cat", "probability": 0.8}],
        },
        "/old/b.png": {
            "features": {"0": 0.0, "1": 0.0, "2": 2.0, "3": 0.0},  # JSON.stringify(Float32Array)
            "color": "#ff8000",
            "palette": [],
            "keywords": ["dog", "grass"],
        },
    }
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(doc), "utf-8")
    lib = Library.load(path)
    assert lib.paths == ["/old/a.jpg", "/old/b.png"]
    np.testing.assert_allclose(lib.features, [_unit([3, 4, 0, 0]), _unit([0, 0, 1, 0])], atol=1e-7)
    assert lib.has_visual.tolist() == [False, False]
    assert lib.missing_visual_count == 2
    assert lib.records[0]["keywords"] == [{"label": "tabby, tabby cat", "score": 0.8}]
    assert [k["label"] for k in lib.records[1]["keywords"]] == ["dog", "grass"]
    assert lib.records[1]["color"] == [255, 128, 0]
    assert lib.records[0]["palette"] == [[10, 20, 30], [200, 0, 0]]
    assert lib.models == {}
    # search by vector works without visual features
    assert lib.search(np.array([0, 0, 1, 0], np.float32), k=1)[0][0] == 1
    # saving upgrades it to the current format
    lib.save(tmp_path / "new.json")
    assert_same(lib, Library.load(tmp_path / "new.json"))


def test_legacy_bare_list_and_lenient_fields(tmp_path: Path) -> None:
    doc = [
        {"path": "/x/1.jpg", "features": [1.0, 1.0], "keywords": {"cat": 0.9}},
        {"path": "/x/2.jpg", "features": [0.0, 5.0], "visualFeatures": [2.0, 0.0, 0.0]},
        {"path": "/x/3.jpg", "features": [1.0, 0.0], "visualFeatures": None, "color": "rgb(1,2,3)"},
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(doc), "utf-8")
    lib = Library.load(path)
    assert lib.paths == ["/x/1.jpg", "/x/2.jpg", "/x/3.jpg"]
    np.testing.assert_allclose(np.linalg.norm(lib.features, axis=1), 1.0, rtol=1e-6)
    assert lib.has_visual.tolist() == [False, True, False]
    np.testing.assert_allclose(lib.visual_features, [[0, 0, 0], [1, 0, 0], [0, 0, 0]])
    assert lib.records[0]["keywords"] == [{"label": "cat", "score": 0.9}]
    assert lib.records[2]["color"] == [1, 2, 3]


def test_current_format_minimal_and_utf8_bom(tmp_path: Path) -> None:
    doc = {
        "format": "vectorvision-library",
        "version": 2,
        "images": [{"path": "/a.jpg", "features": [0.6, 0.8]}],
    }
    path = tmp_path / "min.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    lib = Library.load(path)
    assert lib.paths == ["/a.jpg"] and lib.roots == [] and lib.failures == []
    assert lib.records[0]["keywords"] == []


def _b64(values: list[float], dtype: str = "<f4") -> str:
    return base64.b64encode(np.array(values, dtype=dtype).tobytes()).decode()


def _doc(images: list[Any], **top: Any) -> dict[str, Any]:
    return {"format": "vectorvision-library", "version": 2, "images": images, **top}


GOOD = {"path": "/p/0.jpg", "features": [1.0, 0.0, 0.0]}

MALFORMED: list[tuple[str, Any, list[str]]] = [
    ("empty", b"", ["empty"]),
    ("not-json", b"hello, I am a text file", ["not valid JSON"]),
    ("number", 42, ["wrong shape", "a number"]),
    ("images-not-list", _doc(5), ["wrong shape", "'images'"]),  # type: ignore[arg-type]
    ("missing-images", {"format": "vectorvision-library", "version": 2}, ["missing the 'images'"]),
    ("record-not-object", _doc([GOOD, 7]), ["record 1 is a number, expected an object"]),
    ("missing-path", _doc([GOOD, {"features": [1.0, 0, 0]}]), ["record 1", "missing 'path'"]),
    ("duplicate-path", _doc([GOOD, GOOD]), ["record 1", "duplicate path"]),
    ("missing-features", _doc([GOOD, {"path": "/p/1.jpg"}]), ["record 1", "missing 'features'"]),
    (
        "mismatched-dims",
        _doc([GOOD, {"path": "/p/1.jpg", "features": [1.0, 0.0]}]),
        ["record 1", "2 values", "record 0 has 3", "mismatched"],
    ),
    (
        "mismatched-visual-dims",
        _doc(
            [
                {**GOOD, "visualFeatures": [1.0, 2.0]},
                {"path": "/p/1.jpg", "features": [1.0, 0, 0], "visualFeatures": [1.0, 2.0, 3.0]},
            ]
        ),
        ["record 1", "'visualFeatures'", "mismatched"],
    ),
    (
        "nan",
        _doc([GOOD, {"path": "/p/1.jpg", "features": [math.nan, 0, 0]}]),
        ["record 1", "non-finite"],
    ),
    (
        "infinity",
        [GOOD, {"path": "/p/1.jpg", "features": [1, math.inf, 0]}],
        ["record 1", "non-finite"],
    ),
    (
        "null-in-vector",
        _doc([GOOD, {"path": "/p/1.jpg", "features": [1, None, 0]}]),
        ["record 1", "non-finite", "null"],
    ),
    ("nested-vector", _doc([{"path": "/a", "features": [[1, 0], [0, 1]]}]), ["record 0", "shape"]),
    ("string-vector", _doc([{"path": "/a", "features": "1,2,3"}]), ["record 0", "expected a list"]),
    (
        "zero-vector",
        _doc([GOOD, {"path": "/p/1.jpg", "features": [0, 0, 0]}]),
        ["record 1", "all zeros"],
    ),
    (
        "bad-base64",
        _doc(
            [GOOD, {"path": "/p/1.jpg", "features": {"dtype": "float32", "b64": "@@not base64!"}}]
        ),
        ["record 1", "not valid base64"],
    ),
    (
        "wrong-dtype",
        _doc([{"path": "/a", "features": {"dtype": "float64", "b64": _b64([1, 0], "<f8")}}]),
        ["record 0", "dtype 'float64'"],
    ),
    (
        "partial-float",
        _doc(
            [
                {
                    "path": "/a",
                    "features": {"dtype": "float32", "b64": base64.b64encode(b"12345").decode()},
                }
            ]
        ),
        ["record 0", "5 bytes"],
    ),
    (
        "b64-nan",
        _doc([{"path": "/a", "features": {"dtype": "float32", "b64": _b64([1, math.nan])}}]),
        ["record 0", "non-finite"],
    ),
    (
        "models-dim",
        _doc([GOOD], models={"features": {"name": "m", "sha256": "x", "dim": 768}}),
        ["models.features.dim", "768", "3 values"],
    ),
    ("newer-version", {**_doc([GOOD]), "version": 99}, ["newer", "version 99"]),
    ("foreign-format", {"format": "something-else", "images": []}, ["unknown format"]),
    ("legacy-value-not-object", {"/a.jpg": [1.0, 2.0]}, ["record 0 is a list"]),
]


@pytest.mark.parametrize(("name", "content", "problems"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_raise_naming_file_and_problem(
    tmp_path: Path, name: str, content: Any, problems: list[str]
) -> None:
    path = tmp_path / f"bad-{name}.json"
    data = content if isinstance(content, bytes) else json.dumps(content).encode()  # NaN -> NaN
    path.write_bytes(data)
    with pytest.raises(LibraryFormatError) as info:
        Library.load(path)
    message = str(info.value)
    assert str(path) in message
    for problem in problems:
        assert problem in message


def test_truncated_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    make_library(20).save(path)
    data = path.read_bytes()
    for cut in (1, len(data) // 3, len(data) - 2):
        bad = tmp_path / f"cut{cut}.json"
        bad.write_bytes(data[:cut])
        with pytest.raises(LibraryFormatError, match="not valid JSON") as info:
            Library.load(bad)
        assert str(bad) in str(info.value)


def _reformat(text: str, how: str) -> str:
    """The same JSON as a person or a tool might leave it (still one valid document)."""
    lines = text.splitlines()
    head, records, tail = lines[0], lines[1:-1], lines[-1]
    if how == "blank lines":
        return "\n\n".join([head, *records, tail]) + "\n"
    if how == "trailing spaces":
        return "\n".join(line + "   " for line in lines) + "\n"
    if how == "indented close":
        return "\n".join([head, *records, "  " + tail]) + "\n"
    if how == "comma first":
        bare = [r.rstrip(",") for r in records]
        return "\n".join([head, bare[0], *("," + r for r in bare[1:]), tail]) + "\n"
    if how == "wrapped records":
        return "\n".join([head, *(r.replace(', "', ',\n "') for r in records), tail]) + "\n"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["blank lines", "trailing spaces", "indented close", "comma first", "wrapped records"]
)
def test_reformatted_file_loads_like_the_original(tmp_path: Path, how: str) -> None:
    path = tmp_path / "lib.json"
    lib = make_library(7)
    lib.save(path)
    text = path.read_text(encoding="utf-8")
    json.loads(_reformat(text, how))  # the reformatted text is still valid JSON
    edited = tmp_path / "edited.json"
    edited.write_text(_reformat(text, how), encoding="utf-8")
    back = Library.load(edited)
    assert back.paths == lib.paths
    np.testing.assert_array_equal(back.features, lib.features)
    np.testing.assert_array_equal(back.visual_features, lib.visual_features)


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_wrong_header_count_is_named(tmp_path: Path, delta: int) -> None:
    path = tmp_path / "lib.json"
    make_library(5).save(path)
    text = path.read_text(encoding="utf-8")
    assert '"count":5,' in text
    path.write_text(text.replace('"count":5,', f'"count":{5 + delta},', 1), encoding="utf-8")
    with pytest.raises(LibraryFormatError, match=r"header's count") as info:
        Library.load(path)
    assert str(path) in str(info.value)


def test_an_impossible_header_count_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    make_library(5).save(path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"count":5,', '"count":1000000000000,', 1), encoding="utf-8")
    with pytest.raises(LibraryFormatError, match=r"count 1,000,000,000,000 cannot fit"):
        Library.load(path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Library.load(tmp_path / "nope.json")


# A child process that saves alternately two versions of one library as fast as it can.
CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from vectorvision_widget.library.store import Library
    rng = np.random.default_rng(0)
    n = 4000
    libs = []
    for tag in ("A", "B"):
        lib = Library.from_arrays([f"/{tag}/{i}.jpg" for i in range(n)],
                                  rng.normal(size=(n, 256)), rng.normal(size=(n, 128)))
        lib.roots = [tag]
        libs.append(lib)
    print("ready", flush=True)
    i = 0
    while True:
        libs[i % 2].save(sys.argv[1], overwrite=True)  # two writers on purpose
        print("saved", flush=True)
        i += 1
    """
)


def test_kill_during_save_always_leaves_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    initial = Library.from_arrays(["/init.jpg"], np.ones((1, 256)))
    initial.roots = ["initial"]
    initial.save(path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rnd = random.Random(1234)
    seen: set[str] = set()
    deadline = time.monotonic() + 40.0  # child start-up is slow on a busy machine
    kills = 0
    while kills < 12 and time.monotonic() < deadline:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        if kills % 3 == 0:  # some kills after a completed save, whatever the machine's speed
            assert child.stdout.readline().strip() == b"saved"
        time.sleep(rnd.uniform(0.0, 0.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kills += 1
        lib = Library.load(path)  # must never raise
        root = lib.roots[0]
        seen.add(root)
        expected_len = 1 if root == "initial" else 4000
        assert len(lib) == expected_len
        assert lib.paths[-1].startswith("/init" if root == "initial" else f"/{root}/")
    assert kills >= 4
    assert seen & {"A", "B"}, "the child never completed a save; the test proved nothing"
    # killed writers leave only hidden temp files, never a second library
    leftovers = [p for p in tmp_path.iterdir() if p != path and p.suffix != ".lock"]
    assert all(p.name.startswith(".lib.json.") and p.suffix == ".tmp" for p in leftovers)
    print(f"{kills} kills, versions seen {sorted(seen)}, {len(leftovers)} killed mid-write")


def test_packed_and_list_vectors_mix_and_non_unit_rows_are_normalised(tmp_path: Path) -> None:
    rows = [[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1e30, 1e30, 0.0]]  # 1e30² overflows float32
    images = [
        {"path": "/a", "features": {"dtype": "float32", "b64": _b64(rows[0])}},
        {"path": "/b", "features": [rows[1]]},  # a (1, D) list among packed vectors
        {"path": "/c", "features": {"dtype": "<f4", "b64": _b64(rows[2])}},
    ]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(_doc(images)), "utf-8")
    lib = Library.load(path)
    np.testing.assert_allclose(lib.features, [_unit(r) for r in rows], rtol=1e-6)
    # all packed (the one-decode fast path) gives the same matrix
    for img, row in zip(images, rows, strict=True):
        img["features"] = {"dtype": "float32", "b64": _b64(row)}
    path.write_text(json.dumps(_doc(images)), "utf-8")
    np.testing.assert_array_equal(Library.load(path).features, lib.features)
