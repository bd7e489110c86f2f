"""Finding the images under a folder: recursive, safe with symlinks, never writing anything.

What counts as an image: a file whose extension is one of IMAGE_EXTENSIONS (case-insensitive), or
an extension-less file whose first bytes are a known image signature (cameras and some exports
drop extensions). A file with an image extension is always returned, even if its content turns out
to be something else: the analyzer then records it as a failure instead of skipping it silently.
Skipped: hidden files and folders (".name"), macOS AppleDouble files ("._name") and "__MACOSX".
Symlinks are followed, but each real folder and file is visited once, so a symlink loop or two
links to one photo cannot index anything twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
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
)


def _hidden(name: str) -> bool:
    return name.startswith(".")  # also covers AppleDouble "._name"


def looks_like_image(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with a known image signature (reads 12 bytes)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    if head[:4] == b"RIFF" and head[8:12] != b"WEBP":
        return False
    return any(head[off : off + len(sig)] == sig for off, sig in _SIGNATURES)


def is_candidate(path: str | os.PathLike[str]) -> bool:
    """Would the scan try to index this file? (by extension, or by content when it has none)."""
    name = os.path.basename(path)
    if _hidden(name):
        return False
    ext = os.path.splitext(name)[1].lower()
    if ext:
        return ext in IMAGE_EXTENSIONS
    return looks_like_image(path)


def iter_image_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield candidate image files under `root` (absolute paths, sorted per folder)."""
    top = Path(root).expanduser().absolute()
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # a symlink loop or a second link to a folder already walked
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: nothing to index there
        subfolders: list[Path] = []
        for entry in entries:
            if _hidden(entry.name) or entry.name in SKIPPED_FOLDERS:
                continue
            try:
                if entry.is_dir():  # follows symlinks
                    subfolders.append(Path(entry.path))
                    continue
                if not entry.is_file():
                    continue  # sockets, fifos, dangling links
                fst = entry.stat()
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) in seen or not is_candidate(entry.path):
                continue
            seen.add((fst.st_dev, fst.st_ino))
            yield Path(entry.path)
        stack.extend(reversed(subfolders))  # depth-first, in name order
