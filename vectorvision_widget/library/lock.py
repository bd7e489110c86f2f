"""One writer per library file: an inter-process lock beside it and a check that the file on
disk is still the one this library was loaded from (or last saved to) before overwriting it.

The check compares content, not only metadata: a file whose (device, inode, size, mtime) is
unchanged on a file system with fine timestamps was not written; otherwise (another save, a
`touch`, an identical copy, or a file system with coarse timestamps such as FAT, HFS+ or ext2,
where two saves within a second can keep inode, size and mtime) the file's sha256 is compared
with the one kept from the last load or save. Paths are compared fully resolved (`realpath`), so
a library reached through a symlinked folder is the same file as through its real path.

The lock is `filelock`'s (an OS-level `flock` on ``<library>.lock``: released by the kernel when
the process dies, so a crash never leaves a stale lock). One lock object per lock file per
process (``is_singleton``): re-entrant in the thread that holds it, so a scan can hold it for the
whole scan and call ``lib.save()`` inside; other threads and processes wait.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from vectorvision_widget.atomicfile import check_target, resolve_target
from vectorvision_widget.errors import VectorVisionError
from vectorvision_widget.filehash import file_sha256

__all__ = [
    "FileState",
    "LibraryChangedError",
    "LibraryExistsError",
    "LibraryLockedError",
    "changed_on_disk",
    "file_state",
    "fingerprint",
    "library_lock",
    "lock_file",
    "same_file",
]

Fingerprint = tuple[int, int, int, int]


class LibraryLockedError(VectorVisionError, TimeoutError):
    """Another writer (a scan, a notebook) holds the library's lock past the timeout."""


class LibraryExistsError(VectorVisionError, FileExistsError):
    """A save would replace a library file this library never read nor wrote (another
    library's file); nothing was written. `save(..., overwrite=True)` replaces it."""


class LibraryChangedError(VectorVisionError, RuntimeError):
    """The library file changed on disk since it was loaded; saving would drop the other
    writer's work, so nothing was written."""


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The lock file of a library: ``<real file>.lock`` (symlinks followed, of the file and of
    its folders, so every way to reach one library shares its lock)."""
    target = Path(os.path.realpath(resolve_target(path)))
    return target.with_name(target.name + ".lock")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one library file (symlinked files and folders resolved)."""
    return os.path.realpath(a) == os.path.realpath(b)


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint | None:
    """(device, inode, size, mtime ns) of the file, None if it does not exist. Atomic saves
    replace the inode, so any save by anyone changes it (on file systems with fine timestamps;
    see `changed_on_disk` for the others)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class FileState:
    """A library file as this library last read or wrote it: its metadata and content hash."""

    stat: Fingerprint
    sha256: str


def file_state(path: str | os.PathLike[str], sha256: str | None = None) -> FileState | None:
    """The file's state now (None if it does not exist); `sha256` when the caller hashed the
    bytes as it wrote them (no second read)."""
    stat = fingerprint(path)
    if stat is None:
        return None
    return FileState(stat, sha256 if sha256 is not None else file_sha256(path))


def hashing(chunks: Iterable[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
    """Pass `chunks` through, feeding each to `digest` (hash a file while writing it)."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _coarse(mtime_ns: int) -> bool:
    """A whole-millisecond mtime: a file system whose timestamps cannot tell two quick saves
    apart (FAT: 2 s, HFS+ / ext2 / some NFS: 1 s)."""
    return mtime_ns % 1_000_000 == 0


def changed_on_disk(path: str | os.PathLike[str], known: FileState) -> bool:
    """Whether the file's content differs from `known` (a missing file has not changed: there
    is nothing to overwrite). Metadata decides only where it can prove sameness."""
    now = fingerprint(path)
    if now is None:
        return False
    if now == known.stat and not _coarse(now[3]):
        return False
    if now[2] != known.stat[2]:
        return True  # another size is another content
    return file_sha256(path) != known.sha256


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
    check_target(path)  # a folder or a device is refused before a lock file appears beside it
    lock = FileLock(str(lf), is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except IsADirectoryError:
        msg = f"cannot lock library {os.fspath(path)!r}: {str(lf)!r} is a folder; remove it"
        raise IsADirectoryError(msg) from None
    except PermissionError as exc:
        msg = (
            f"cannot write library {os.fspath(path)!r}: no permission to create its lock file "
            f"{lf.name!r} in {str(lf.parent)!r} (the library is written there too)"
        )
        raise PermissionError(exc.errno, msg) from None
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
