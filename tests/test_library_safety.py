"""Library files in real life: the library remembers its file, saves through symlinks, one
writer at a time (lock + changed-on-disk check), interrupts leave rows aligned, any path."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vectorvision_widget.liblock import lock_file
from vectorvision_widget.library import (
    Library,
    LibraryChangedError,
    LibraryLockedError,
    library_lock,
)

REPO = Path(__file__).resolve().parents[1]


def small(n: int = 5, tag: str = "a", seed: int = 0) -> Library:
    rng = np.random.default_rng(seed)
    return Library.from_arrays(
        [f"/{tag}/{i}.jpg" for i in range(n)], rng.normal(size=(n, 8)), rng.normal(size=(n, 4))
    )


def add(lib: Library, path: str, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    lib.upsert({"path": path}, rng.normal(size=8), rng.normal(size=4))


# ---------------------------------------------------------------- the library remembers its file


def test_load_sets_path_and_save_writes_there(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    with pytest.raises(ValueError, match="needs a path"):
        small().save()
    lib = small()
    assert lib.path is None
    lib.save(p)
    assert lib.path == p
    loaded = Library.load(p)
    assert loaded.path == p
    add(loaded, "/new.jpg")
    loaded.save()
    assert "/new.jpg" in Library.load(p)
    other = tmp_path / "copy.json"
    loaded.save(other)  # save-as: lib.path stays the file it came from
    assert loaded.path == p and other.is_file()


def test_save_through_a_symlink_writes_the_target(tmp_path: Path) -> None:
    real = tmp_path / "data" / "lib.json"
    real.parent.mkdir()
    small().save(real)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    lib = Library.load(link)
    add(lib, "/via-link.jpg")
    assert lib.save() == real
    assert link.is_symlink()
    assert "/via-link.jpg" in Library.load(real)


# ---------------------------------------------------------------- one writer at a time


def test_save_refuses_when_the_file_changed_since_load(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    small().save(p)
    first, second = Library.load(p), Library.load(p)
    add(second, "/second.jpg")
    second.save()
    add(first, "/first.jpg", seed=2)
    with pytest.raises(LibraryChangedError, match="changed on disk"):
        first.save()
    assert "/second.jpg" in Library.load(p)  # the other writer's work is kept
    second_again = Library.load(p)
    add(second_again, "/third.jpg", seed=3)
    second_again.save()
    second_again.save()  # its own saves never count as changes
    first.save(overwrite=True)
    assert "/first.jpg" in Library.load(p)


def test_lock_waits_names_the_lock_and_is_reentrant(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    lib = small()
    lib.save(p)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with library_lock(p):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(10)
    messages: list[str] = []
    try:
        with pytest.raises(LibraryLockedError, match=r"lib\.json\.lock"):
            lib.save(timeout=0.2)
        with pytest.raises(LibraryLockedError), library_lock(p, 0.1, on_wait=messages.append):
            pass
    finally:
        release.set()
        t.join()
    assert messages and "waiting for another scan of" in messages[0]
    with lib.lock(timeout=1):  # re-entrant: a scan holds the lock and saves inside it
        add(lib, "/inside.jpg")
        lib.save(timeout=0)
    assert lock_file(p) == tmp_path / "lib.json.lock"


def test_a_second_process_waits_for_the_lock(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    small().save(p)
    code = (
        "import sys, time\n"
        "from vectorvision_widget.liblock import library_lock\n"
        "with library_lock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(1.5)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"locked"
        lib = Library.load(p)
        with pytest.raises(LibraryLockedError):
            lib.save(timeout=0)
        messages: list[str] = []
        t0 = time.monotonic()
        with library_lock(p, timeout=30, on_wait=messages.append):
            waited = time.monotonic() - t0
        assert messages and waited > 0.1
        lib.save(timeout=5)
    finally:
        child.wait(30)
