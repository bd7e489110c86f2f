"""Exporting the selection: copies and links into a folder, never overwriting or touching the
originals; name clashes get suffixes; a missing original is reported, the rest still written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectorvision_widget as vv
from vectorvision_widget.widget.selection_export import export_files


def _files(folder: Path, names: list[str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(names):
        p = folder / name
        p.write_bytes(f"image {i} {name}".encode())
        out.append(str(p))
    return out


def _widget(paths: list[str]) -> Any:
    n = len(paths)
    rng = np.random.default_rng(0)
    lib = vv.Library.from_arrays(paths, rng.normal(size=(n, 4)), rng.normal(size=(n, 4)))
    w = vv.VectorVision(lib)
    w.wait(30)
    return w


def test_copy_writes_byte_identical_files_and_creates_the_folder(tmp_path: Path) -> None:
    src = _files(tmp_path / "a", ["x.jpg", "y.png"])
    dest = tmp_path / "out" / "deeper"
    result = export_files(src, dest, "copy")
    assert result.problems == []
    assert [p.name for p in result.written] == ["x.jpg", "y.png"]
    for s, d in zip(src, result.written, strict=True):
        assert d.parent == dest.resolve() and not d.is_symlink()
        assert d.read_bytes() == Path(s).read_bytes()
    assert all(Path(s).exists() for s in src)  # originals untouched


def test_link_makes_symlinks_to_the_originals(tmp_path: Path) -> None:
    src = _files(tmp_path / "a", ["x.jpg"])
    (written,) = export_files(src, tmp_path / "out", "link").written
    assert written.is_symlink() and os.readlink(written) == os.path.abspath(src[0])
    assert written.read_bytes() == Path(src[0]).read_bytes()


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_name_clashes_get_suffixes_and_nothing_is_overwritten(tmp_path: Path, mode: str) -> None:
    one = _files(tmp_path / "a", ["cat.jpg"])
    two = _files(tmp_path / "b", ["cat.jpg"])
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "cat.jpg").write_bytes(b"already here")
    result = export_files([*one, *two], dest, mode)
    assert [p.name for p in result.written] == ["cat_1.jpg", "cat_2.jpg"]
    assert (dest / "cat.jpg").read_bytes() == b"already here"
    assert (dest / "cat_1.jpg").read_bytes() == Path(one[0]).read_bytes()
    assert (dest / "cat_2.jpg").read_bytes() == Path(two[0]).read_bytes()


def test_exporting_into_the_originals_folder_never_replaces_them(tmp_path: Path) -> None:
    src = _files(tmp_path / "a", ["x.jpg"])
    before = Path(src[0]).read_bytes()
    (written,) = export_files(src, tmp_path / "a", "copy").written
    assert written.name == "x_1.jpg" and Path(src[0]).read_bytes() == before


def test_missing_originals_are_reported_and_the_rest_written(tmp_path: Path) -> None:
    src = _files(tmp_path / "a", ["x.jpg", "gone.jpg", "z.jpg"])
    os.remove(src[1])
    result = export_files(src, tmp_path / "out", "copy")
    assert [p.name for p in result.written] == ["x.jpg", "z.jpg"]
    assert result.problems == [(src[1], "missing")]


def test_bad_mode_and_a_file_as_folder_are_clear_errors(tmp_path: Path) -> None:
    src = _files(tmp_path / "a", ["x.jpg"])
    with pytest.raises(ValueError, match="mode must be 'copy' or 'link'"):
        export_files(src, tmp_path / "out", "move")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export_files(src, src[0], "copy")
    with pytest.raises(TypeError, match="folder must be a path"):
        export_files(src, 3, "copy")  # type: ignore[arg-type]  # a wrong type on purpose


def test_export_selection_exports_the_selected_rows_and_warns_on_missing(tmp_path: Path) -> None:
    paths = _files(tmp_path / "a", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    w = _widget(paths)
    w.selected = [3, 1]
    written = w.export_selection(tmp_path / "out")
    assert [p.name for p in written] == ["d.jpg", "b.jpg"]
    assert "2 copied" in w.status
    os.remove(paths[1])
    with pytest.warns(UserWarning, match=r"1 file\(s\) not exported: .*b\.jpg \(missing\)"):
        linked = w.export_selection(tmp_path / "links", mode="link")
    assert [p.name for p in linked] == ["d.jpg"] and "b.jpg" in w.error
    w.selected = []
    assert w.export_selection(tmp_path / "none") == []
    w.close()
