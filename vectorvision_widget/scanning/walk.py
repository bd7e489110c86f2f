"""Finding the images under a folder: recursive, safe with symlinks, never writing anything.

What counts as an image: a file whose extension is one of IMAGE_EXTENSIONS (case-insensitive), or
an extension-less file whose first bytes are a known image signature (cameras and some exports
drop extensions). A file with an image extension is always returned, even if its content turns out
to be something else: the scan then records it as a failure instead of skipping it silently.
HEIC/HEIF count as image extensions for that reason: without a Pillow plugin (`pillow-heif`,
registered by the user) they cannot be decoded, and the user should hear about them. Files with
any other extension (`.txt`, `.raw`, `.mp4`, `photo.jpg.bak`) are not looked at.
Skipped: hidden files and folders (".name"), macOS AppleDouble files ("._name") and "__MACOSX".
Symlinks are followed, but each real folder and file is visited once (real paths first, links
after), so a symlink loop or two links to one photo cannot index anything twice. Only regular
files are ever opened (FIFOs, sockets, devices are skipped). Folders that cannot be read and
dangling symlinks are reported to the caller, who keeps their records (offline, not deleted).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
    | {".avif", ".heic", ".heif"}  # Pillow >= 11.2 reads AVIF; HEIC needs a plugin (else: failed)
)
SKIPPED_FOLDERS = frozenset({"__MACOSX"})

_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF little-endian
    (0, b"MM\x00*"),  # TIFF big-endian
    (8, b"WEBP"),  # RIFF....WEBP
    (4, b"ftypavif"),  # ISO-BMFF containers: AVIF, HEIC/HEIF
    (4, b"ftypavis"),
    (4, b"ftypheic"),
    (4, b"ftypheix"),
    (4, b"ftypmif1"),
)


def _hidden(name: str) -> bool:
    return name.startswith(".")  # also covers AppleDouble "._name"


def _read_head(path: str | os.PathLike[str], n: int = 12) -> bytes:
    """First `n` bytes of a regular file; never blocks on a FIFO or device (O_NONBLOCK + fstat)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, n)
    finally:
        os.close(fd)


def looks_like_image(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with a known image signature (reads 12 bytes of regular files)."""
    try:
        head = _read_head(path)
    except OSError:
        return False
    if head[:4] == b"RIFF" and head[8:12] != b"WEBP":
        return False
    return any(head[off : off + len(sig)] == sig for off, sig in _SIGNATURES)


def has_image_extension(path: str | os.PathLike[str]) -> bool:
    """True if the name ends in one of IMAGE_EXTENSIONS (no file access)."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def is_candidate(path: str | os.PathLike[str]) -> bool:
    """Would the scan try to index this file? (by extension, or by content when it has none)."""
    name = os.path.basename(path)
    if _hidden(name):
        return False
    ext = os.path.splitext(name)[1].lower()
    if ext:
        return ext in IMAGE_EXTENSIONS
    return looks_like_image(path)


@dataclass(frozen=True)
class WalkProblem:
    """Something under a root that could not be looked at; its records must be kept.

    `kind`: "unreadable" (a folder that cannot be listed or stat'ed) or "dangling" (a symbolic
    link whose target is missing: an unmounted drive, a moved file)."""

    path: str
    kind: str
    error: str


ProblemCallback = Callable[[WalkProblem], None]


def _unreadable(path: Path, exc: OSError) -> WalkProblem:
    reason = exc.strerror or type(exc).__name__
    return WalkProblem(
        str(path), "unreadable", f"folder cannot be read ({reason}); its records are kept"
    )


def iter_image_files(
    root: str | os.PathLike[str], on_problem: ProblemCallback | None = None
) -> Iterator[Path]:
    """Yield candidate image files under `root` (absolute paths, sorted per folder).

    Only regular files are yielded: FIFOs, sockets and devices are never opened. Real files and
    folders are walked first and symlinks afterwards, so a photo reachable both directly and
    through a link is indexed under its real path, whatever the names sort like. Folders that
    cannot be read and dangling symlinks are passed to `on_problem` (the scan keeps the records
    under them: offline is not deleted).
    """
    report = on_problem or (lambda problem: None)
    top = Path(root).expanduser().absolute()
    seen: set[tuple[int, int]] = set()
    stack = [top]
    links: deque[tuple[bool, Path]] = deque()  # (is_dir, path) of symlinks, walked last
    while stack or links:
        if not stack:
            is_dir, link = links.popleft()
            if is_dir:
                stack.append(link)
            else:
                with contextlib.suppress(OSError):
                    fst = link.stat()
                    key = (fst.st_dev, fst.st_ino)
                    if stat.S_ISREG(fst.st_mode) and key not in seen and is_candidate(link):
                        seen.add(key)
                        yield link
            continue
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as exc:
            report(_unreadable(folder, exc))
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # a symlink loop or a second link to a folder already walked
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            report(_unreadable(folder, exc))
            continue
        subfolders: list[Path] = []
        for entry in entries:
            if _hidden(entry.name) or entry.name in SKIPPED_FOLDERS:
                continue
            try:
                if entry.is_symlink():
                    try:
                        target = os.stat(entry.path)
                    except FileNotFoundError:
                        error = f"broken symbolic link (target {os.readlink(entry.path)!r} missing)"
                        report(WalkProblem(entry.path, "dangling", error))
                        continue
                    if stat.S_ISDIR(target.st_mode) or stat.S_ISREG(target.st_mode):
                        links.append((stat.S_ISDIR(target.st_mode), Path(entry.path)))
                    continue
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # FIFOs, sockets, devices: never opened
                fst = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) in seen or not is_candidate(entry.path):
                continue
            seen.add((fst.st_dev, fst.st_ino))
            yield Path(entry.path)
        stack.extend(reversed(subfolders))  # depth-first, in name order
