"""The one L2 normaliser (vectors.py) and the one atomic writer (atomicfile.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vectorvision_widget import atomicfile
from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.vectors import NonFiniteRowError, ZeroRowError, l2_normalise


def test_l2_normalise_units_zero_rows_and_overflow() -> None:
    X = np.array([[3, 4], [0, 0], [3e38, 3e38]], np.float32)
    out, mask = l2_normalise(X, return_mask=True)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [2**-0.5, 2**-0.5]], rtol=1e-6)
    assert out.dtype == np.float32 and mask.tolist() == [True, False, True]
    assert X[0, 0] == 3  # copy by default


def test_l2_normalise_errors_name_the_row() -> None:
    with pytest.raises(NonFiniteRowError, match="features row 1") as exc:
        l2_normalise([[1, 0], [np.nan, 1]], what="features")
    assert exc.value.row == 1
    with pytest.raises(ZeroRowError, match="row 0 is all zeros"):
        l2_normalise([[0, 0.0]], allow_zero=False)
    with pytest.raises(ValueError, match="2-D"):
        l2_normalise(np.ones((2, 2, 2)))


def test_l2_normalise_in_place_tolerance_and_1d() -> None:
    A = np.array([[3, 4], [1 + 1e-7, 0]], np.float32)
    kept = A[1].copy()
    out = l2_normalise(A, copy=False, tolerance=1e-6)
    assert out is A
    assert np.array_equal(A[1], kept)  # within tolerance: bit-exact
    np.testing.assert_allclose(l2_normalise([3.0, 4.0]), [0.6, 0.8])


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, iter([b"tw", b"o"]))
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_write_through_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real" / "lib.json"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    written = atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new" and written == real


def test_atomic_write_error_removes_temp_and_keeps_old(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")

    def chunks():  # type: ignore[no-untyped-def]
        yield b"half"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, chunks())
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_write_fsyncs_file_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc") else True)
        real_fsync(fd)

    monkeypatch.setattr(atomicfile.os, "fsync", spy)
    atomic_write_bytes(tmp_path / "x", b"data")
    assert len(synced) == 2 and synced[-1] is True  # the file, then its folder
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_atomic_write_never_replaces_a_folder_or_special_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
    else:
        os.mkfifo(target)  # stands for /dev/sda: anything that is not a regular file
    with pytest.raises(FileExistsError, match=r"target'.*not a file"):
        atomic_write_bytes(target, b"data")
    assert target.is_dir() if kind == "folder" else target.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # no temp file left


def test_atomic_write_into_a_read_only_folder_names_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".lib.json.x1.tmp"))

    monkeypatch.setattr(atomicfile.tempfile, "mkstemp", refuse)  # root ignores folder modes
    with pytest.raises(PermissionError) as info:
        atomic_write_bytes(tmp_path / "lib.json", b"data")
    message = str(info.value)
    assert "lib.json" in message and "not writable" in message and ".tmp" not in message
