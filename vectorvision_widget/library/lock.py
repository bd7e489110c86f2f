"""One writer per library file: an inter-process lock beside it and a check that the file on
disk is still the one this library was loaded from (or last saved to) before overwriting it.

The lock is `filelock`'s (an OS-level `flock` on ``<library>.lock``: released by the kernel when
the process dies, so a crash never leaves a stale lock). One lock object per lock file per
process (``is_singleton``): re-entrant in the thread that holds it, so a scan can hold it for the
whole scan and call ``lib.save()`` inside; other threads and processes wait.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from vectorvision_widget.atomicfile import resolve_target
from vectorvision_widget.errors import VectorVisionError

__all__ = [
    "LibraryChangedError",
    "LibraryLockedError",
    "fingerprint",
    "library_lock",
    "lock_file",
]

Fingerprint = tuple[int, int, int, int]


class LibraryLockedError(VectorVisionError, TimeoutError):
    """Another writer (a scan, a notebook) holds the library's lock past the timeout."""


class LibraryChangedError(VectorVisionError, RuntimeError):
    """The library file changed on disk since it was loaded; saving would drop the other
    writer's work, so nothing was written."""


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The lock file of a library: ``<real file>.lock`` (symlinks followed, so every link to
    one library shares its lock)."""
    target = resolve_target(path)
    return target.with_name(target.name + ".lock")


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint | None:
    """(device, inode, size, mtime ns) of the file, None if it does not exist. Atomic saves
    replace the inode, so any save by anyone changes it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@contextmanager
def library_lock(
    path: str | os.PathLike[str],
    timeout: float = -1,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the library's lock: ``with library_lock("lib.json", on_wait=print): ...``.

    timeout: seconds to wait (-1: forever, 0: fail at once); past it LibraryLockedError names
    the lock file. on_wait: called once with "waiting for another scan of …" when the lock is
    busy. Re-entrant in the holding thread. Yields the lock file's path.
    """
    lf = lock_file(path)
    if not lf.parent.is_dir():  # filelock would create missing folders: a typo must not
        msg = f"cannot use library {os.fspath(path)!r}: folder {str(lf.parent)!r} does not exist"
        raise FileNotFoundError(msg)
    lock = FileLock(str(lf), is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if timeout == 0:
            raise _locked(path, lf) from None
        if on_wait is not None:
            on_wait(f"waiting for another scan of {os.fspath(path)!r} (lock {str(lf)!r}) ...")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise _locked(path, lf) from None
    try:
        yield lf
    finally:
        lock.release()


def _locked(path: str | os.PathLike[str], lf: Path) -> LibraryLockedError:
    msg = (
        f"library {os.fspath(path)!r} is being written by another scan or notebook (lock file "
        f"{str(lf)!r}); wait for it to finish and try again"
    )
    return LibraryLockedError(msg)
