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

from vectorvision_widget.library.lock import lock_file
from vectorvision_widget.library.store import (
    Library,
    LibraryChangedError,
    LibraryExistsError,
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


def test_touch_or_an_identical_copy_is_not_a_change(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    small().save(p)
    lib = Library.load(p)
    os.utime(p)  # `touch`: new mtime, same bytes
    add(lib, "/after-touch.jpg")
    lib.save()
    copy = tmp_path / "copy.json"
    copy.write_bytes(p.read_bytes())
    os.replace(copy, p)  # an identical file copied over it: new inode, same bytes
    add(lib, "/after-copy.jpg", seed=2)
    lib.save()
    assert {"/after-touch.jpg", "/after-copy.jpg"} <= set(Library.load(p).paths)
    other = Library.load(p)
    add(other, "/other.jpg", seed=3)
    other.save()
    add(lib, "/lost.jpg", seed=4)
    with pytest.raises(LibraryChangedError):  # real changes are still conflicts
        lib.save()


@pytest.fixture
def coarse_folder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A folder on ext2 with 1-second timestamps (loop-mounted, as root), else a documented
    equivalent: a normal folder where the other writer restores the whole-second mtime itself."""
    image, mount = tmp_path / "ext2.img", tmp_path / "mnt"
    mount.mkdir()
    mounted = False
    if os.geteuid() == 0:
        with open(image, "wb") as fh:
            fh.truncate(8 << 20)
        made = subprocess.run(["mkfs.ext2", "-q", "-I", "128", str(image)], capture_output=True)
        if made.returncode == 0:
            done = subprocess.run(
                ["mount", "-o", "loop", str(image), str(mount)], capture_output=True
            )
            mounted = done.returncode == 0
    try:
        yield mount
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], check=False)


SAME_SIZE_WRITER = """
import os, sys
from pathlib import Path
path = Path(sys.argv[1])
st = os.stat(path)
data = path.read_bytes()
changed = data.replace(b'/a/0.jpg', b'/z/0.jpg', 1)
assert changed != data and len(changed) == len(data)
with open(path, 'r+b') as fh:  # same inode, same size
    fh.write(changed)
os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # what a 1-second clock shows anyway
"""


def test_a_change_with_same_inode_size_and_coarse_mtime_is_seen(coarse_folder: Path) -> None:
    p = coarse_folder / "lib.json"
    small().save(p)
    whole = os.stat(p).st_mtime_ns // 1_000_000_000 * 1_000_000_000
    os.utime(p, ns=(whole, whole))  # a 1-second file system's timestamp
    lib = Library.load(p)
    before = os.stat(p)
    subprocess.run([sys.executable, "-c", SAME_SIZE_WRITER, str(p)], check=True)
    after = os.stat(p)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    add(lib, "/mine.jpg")
    with pytest.raises(LibraryChangedError, match="changed on disk"):
        lib.save()
    assert "/z/0.jpg" in Library.load(p)  # the other writer's change is kept


def test_a_library_reached_through_a_symlinked_folder_is_the_same_file(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "photos").symlink_to(real, target_is_directory=True)
    small().save(real / "lib.json")
    lib = Library.load(tmp_path / "photos" / "lib.json")
    lib.save(real / "lib.json")  # its own file under its real name: no conflict afterwards
    add(lib, "/mine.jpg")
    lib.save()
    assert lock_file(tmp_path / "photos" / "lib.json") == lock_file(real / "lib.json")
    code = (
        "import sys; import numpy as np; from vectorvision_widget.library.store import Library; "
        "lib = Library.load(sys.argv[1]); "
        "lib.upsert({'path': '/theirs.jpg'}, np.ones(8), np.ones(4)); lib.save()"
    )
    subprocess.run([sys.executable, "-c", code, str(real / "lib.json")], check=True)
    add(lib, "/mine-again.jpg", seed=5)
    with pytest.raises(LibraryChangedError):
        lib.save(real / "lib.json")  # named by the real path: the same file, still checked
    assert "/theirs.jpg" in Library.load(real / "lib.json")


def test_a_special_file_as_library_is_refused_before_any_lock_file(tmp_path: Path) -> None:
    fifo = tmp_path / "device"
    os.mkfifo(fifo)  # stands for `--library /dev/sda`
    with pytest.raises(FileExistsError, match="not a file"), library_lock(fifo):
        pass
    with pytest.raises(FileExistsError, match="not a file"):
        small().save(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device"]  # no device.lock


def test_a_folder_where_the_lock_goes_is_named(tmp_path: Path) -> None:
    (tmp_path / "lib.json.lock").mkdir()
    with pytest.raises(IsADirectoryError, match=r"lib\.json\.lock' is a folder; remove it"):
        small().save(tmp_path / "lib.json")


def test_a_new_library_never_silently_replaces_another_library(tmp_path: Path) -> None:
    p = tmp_path / "lib.json"
    small(tag="theirs").save(p)
    mine = small(tag="mine")
    with pytest.raises(LibraryExistsError, match="already exists"):
        mine.save(p)
    assert "/theirs/0.jpg" in Library.load(p)  # nothing written
    mine.save(p, overwrite=True)  # said on purpose
    assert "/mine/0.jpg" in Library.load(p)


def test_repeated_save_as_replaces_only_the_copy_it_wrote(tmp_path: Path) -> None:
    p, backup = tmp_path / "lib.json", tmp_path / "backup.json"
    lib = small()
    lib.save(p)
    lib.save(backup)
    add(lib, "/more.jpg")
    lib.save(backup)  # its own earlier copy, unchanged since: replaced
    assert "/more.jpg" in Library.load(backup)
    other = Library.load(backup)
    add(other, "/theirs.jpg", seed=4)
    other.save()
    with pytest.raises(LibraryChangedError):  # the copy changed since: not replaced
        lib.save(backup)
    assert lib.path == p


def test_a_save_while_another_thread_changes_rows_writes_a_loadable_file(tmp_path: Path) -> None:
    n = 3000
    rng = np.random.default_rng(7)
    lib = Library.from_arrays([f"/p/{i}.jpg" for i in range(n)], rng.normal(size=(n, 64)))
    feats = {p: lib.features[i].copy() for i, p in enumerate(lib.paths)}
    stop = threading.Event()

    def churn() -> None:  # what a rescan does: remove rows near the start, add them back
        k = 0
        while not stop.is_set():
            gone = [f"/p/{i}.jpg" for i in range(k % 50, 2000, 50)]
            lib.remove(gone)
            for p in gone:
                lib.upsert({"path": p}, feats[p])
            k += 1

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        for i in range(12):
            saved = tmp_path / f"backup{i}.json"
            lib.save(saved)
            back = Library.load(saved)  # raises on an all-zero row
            assert len(back) >= n - 40  # at most one removal in flight when it was written
            expected = np.stack([feats[p] for p in back.paths])  # every row is its own vector
            np.testing.assert_allclose(back.features, expected, atol=1e-6)
    finally:
        stop.set()
        worker.join()


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
        "from vectorvision_widget.library.lock import library_lock\n"
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


# ---------------------------------------------------------------- interrupt safety


def snapshot(lib: Library) -> tuple:
    return (
        list(lib.paths),
        [dict(r) for r in lib.records],
        lib.features.copy(),
        lib.visual_features.copy(),
        lib.has_visual.copy(),
    )


def assert_consistent(lib: Library, tmp: Path, touched: tuple[str, ...] = ()) -> None:
    """Rows aligned, and no path outside `lib.paths` (of those an operation `touched`) found."""
    n = len(lib)
    assert len(lib.records) == len(lib.paths) == n == lib.features.shape[0]
    assert lib.visual_features.shape[0] == lib.has_visual.shape[0] == n
    assert [r["path"] for r in lib.records] == lib.paths
    assert all(lib.row_of(p) == i for i, p in enumerate(lib.paths))
    assert not [p for p in touched if p not in lib.paths and p in lib]
    lib.save(tmp / "check.json", overwrite=True)
    back = Library.load(tmp / "check.json")
    assert back.paths == lib.paths
    np.testing.assert_array_equal(back.features, lib.features)


def same(a: tuple, b: tuple) -> bool:
    arrays = zip(a[2:], b[2:], strict=True)
    return a[0] == b[0] and a[1] == b[1] and all(np.array_equal(x, y) for x, y in arrays)


def interrupt_at(code: object, line: int):  # type: ignore[no-untyped-def]
    """A tracer that raises KeyboardInterrupt when `code` reaches `line` (as Ctrl-C would)."""
    fired = []

    def local(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(1)
            raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        return local if frame.f_code is code else None

    return tracer


def lines_of(func: object) -> list[int]:
    code = func.__code__  # type: ignore[attr-defined]
    return sorted({ln for _, _, ln in code.co_lines() if ln and ln > code.co_firstlineno})


OPERATIONS = {
    "append": lambda lib: add(lib, "/new.jpg", seed=7),
    "append-grow": lambda lib: [add(lib, f"/g{i}.jpg", seed=i) for i in range(1)],
    "replace": lambda lib: add(lib, lib.paths[2], seed=8),
    "replace-no-visual": lambda lib: lib.upsert({"path": lib.paths[1]}, np.ones(8)),
    "remove-many": lambda lib: lib.remove([lib.paths[1], lib.paths[3], "/unknown.jpg"]),
    "remove-first": lambda lib: lib.remove(lib.paths[0]),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_ctrl_c_at_any_line_leaves_rows_aligned(op: str, tmp_path: Path) -> None:
    from vectorvision_widget.library.rows import RowStore

    funcs = [
        Library.upsert,
        Library.remove,
        RowStore.upsert,
        RowStore._append,
        RowStore._replace,
        RowStore.remove,
        RowStore._buffers,
    ]
    points = [(f.__code__, ln) for f in funcs for ln in lines_of(f)]
    fired = 0
    for code, line in points:
        lib = small(16 if op == "append-grow" else 6)  # 16: the append must grow the buffers
        before = snapshot(lib)
        ref = small(16 if op == "append-grow" else 6)
        OPERATIONS[op](ref)
        after = snapshot(ref)
        sys.settrace(interrupt_at(code, line))
        try:
            OPERATIONS[op](lib)
        except KeyboardInterrupt:
            fired += 1
        finally:
            sys.settrace(None)
        now = snapshot(lib)
        assert same(now, before) or same(now, after), (op, code.co_name, line)
        assert_consistent(lib, tmp_path, touched=(*before[0], "/new.jpg", "/g0.jpg"))
    assert fired >= 5  # the interrupts really happened, inside the commits too


def test_interrupt_inside_a_numpy_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lib = small(16)
    before = snapshot(lib)
    real = np.zeros

    def boom(*a, **kw):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "zeros", boom)  # the buffer growth of the 17th row
    with pytest.raises(KeyboardInterrupt):
        add(lib, "/17.jpg")
    monkeypatch.setattr(np, "zeros", real)
    assert same(snapshot(lib), before)
    assert_consistent(lib, tmp_path)


def test_remove_many_paths_in_one_call_is_fast() -> None:
    n = 20000
    rng = np.random.default_rng(0)
    lib = Library.from_arrays(
        [f"/x/{i}.jpg" for i in range(n)],
        rng.normal(size=(n, 64)).astype(np.float32),
        rng.normal(size=(n, 32)).astype(np.float32),
    )
    gone = lib.paths[::7]
    t0 = time.perf_counter()
    assert lib.remove(gone) == len(gone)
    assert time.perf_counter() - t0 < 2.0
    assert len(lib) == n - len(gone) and gone[0] not in lib and lib.paths[0] == "/x/1.jpg"
    assert lib.row_of("/x/2.jpg") == 1


def test_save_into_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "lib.json"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        small().save(target)
    assert not (tmp_path / "no").exists()


def test_lib_path_equals_the_path_as_a_string_or_a_path(tmp_path: Path) -> None:
    target = tmp_path / "lib.json"
    lib = Library.from_arrays(["/x/a.jpg"], np.ones((1, 4)), np.ones((1, 3)))
    assert lib.path is None
    lib.save(str(target))
    assert lib.path == str(target) and lib.path == target and isinstance(lib.path, Path)
    again = Library.load(target)
    assert again.path == str(target) and again.path == target
    assert again.path != str(tmp_path / "other.json")
