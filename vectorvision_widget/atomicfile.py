"""The one atomic file writer: a crash at any moment leaves either the old or the new file.

Used for library files, model manifests and anything else the package saves. The bytes go to
a hidden temp file in the target's own folder (so the final rename stays on one file system),
which is flushed and fsynced, renamed over the target, and then the folder is fsynced so the
rename itself survives a power cut. Saving to a symlink writes the link's target: the link
stays a link (replacing it by a regular file would leave the real file with old data).
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

__all__ = ["atomic_write_bytes", "check_target", "deferred_interrupt", "resolve_target"]


def resolve_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` must replace: symlinks followed (also dangling ones)."""
    p = Path(os.path.abspath(os.fspath(path)))
    if not p.is_symlink():
        return p
    return Path(os.path.realpath(p))


def check_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` replaces, refused (FileExistsError, before anything is
    created) when something other than a regular file is there: replacing a folder, a device
    such as /dev/sda or a FIFO by a file is never what a save means."""
    target = resolve_target(path)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        msg = f"cannot write {str(target)!r}: it is {kind}, not a file; choose a file name"
        raise FileExistsError(msg)
    return target


def _fsync_dir(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # Windows: no directory fsync
        return
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(
    path: str | os.PathLike[str],
    chunks: bytes | bytearray | memoryview | Iterable[bytes],
    *,
    keep_readonly: bool = False,
) -> Path:
    """Write ``chunks`` (bytes, or an iterable of bytes streamed one by one) to ``path``.

    Returns the file actually written (the symlink's target for a symlink). On any error
    (including KeyboardInterrupt) the temp file is removed and the old file is untouched. A
    folder, device or FIFO at ``path`` is refused (FileExistsError) and never replaced.
    A process killed mid-write (kill -9) can leave a hidden ``.NAME.*.tmp`` beside the
    target; it is never read and may be deleted. The file keeps the old file's permissions
    (0o644 for a new file). ``keep_readonly=True`` refuses (PermissionError) to replace a file
    that nobody may write (mode 0444: someone protected it; the rename would not ask).
    """
    target = check_target(path)
    directory = target.parent
    if keep_readonly:
        with suppress(FileNotFoundError):
            mode = target.stat().st_mode
            if not mode & 0o222:
                msg = (
                    f"cannot write {str(target)!r}: the file is read-only (mode "
                    f"{mode & 0o777:04o}); make it writable (chmod u+w) to save over it, "
                    "or save to another file"
                )
                raise PermissionError(errno.EACCES, msg)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except PermissionError as exc:  # name the file the user asked for, not our temp file
        msg = f"cannot write {str(target)!r}: the folder {str(directory)!r} is not writable"
        raise PermissionError(exc.errno, msg) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(chunks, (bytes, bytearray, memoryview)):
                fh.write(chunks)
            else:
                for chunk in chunks:
                    fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return target


@contextmanager
def deferred_interrupt(what: str) -> Iterator[list[bool]]:
    """Finish a write as one unit under Ctrl-C: inside the block a first SIGINT only sets the
    flag yielded (`flag[0]`) and says so on stderr; a second one interrupts at once (the write
    is abandoned and, being atomic, leaves the old file). Only the main thread receives
    signals, so elsewhere the block runs unchanged. The caller decides what a deferred
    interrupt means once the write is done (usually: raise it)."""
    pending = [False]
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if pending[0]:
            raise KeyboardInterrupt
        pending[0] = True
        print(f"Ctrl-C: finishing writing {what} first (Ctrl-C again abandons it)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)
