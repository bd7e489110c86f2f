"""walk.py: which files a scan considers, and a walk that is safe with symlinks."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from vectorvision_widget.scanning.walk import is_candidate, iter_image_files, looks_like_image


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_looks_like_image_recognises_real_encodings(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "noext"
    path.write_bytes(_encoded(fmt))
    assert looks_like_image(path)
    assert is_candidate(path)  # extension-less files are picked up by content


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world, not an image",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"%PDF-1.7\n",
        b"\xff\xd8",
    ],
)
def test_looks_like_image_rejects_other_content(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "README"
    path.write_bytes(content)
    assert not looks_like_image(path)
    assert not is_candidate(path)


def test_looks_like_image_missing_file_is_false(tmp_path: Path) -> None:
    assert not looks_like_image(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True),
        ("a.JPG", True),
        ("b.Jpeg", True),
        ("c.png", True),
        ("d.webp", True),
        ("e.GIF", True),
        ("f.bmp", True),
        ("g.tif", True),
        ("h.TIFF", True),
        ("notes.txt", False),
        ("movie.mp4", False),
        ("archive.jpg.zip", False),
        (".hidden.jpg", False),
        ("._a.jpg", False),
    ],
)
def test_is_candidate_by_extension(tmp_path: Path, name: str, expected: bool) -> None:
    path = tmp_path / name
    path.write_bytes(b"whatever: the extension decides")  # content is not read for these
    assert is_candidate(path) is expected


def test_a_text_file_with_an_image_extension_is_still_a_candidate(tmp_path: Path) -> None:
    # so the scan reports it as failed instead of dropping it silently
    path = tmp_path / "page.gif"
    path.write_text("<html></html>")
    assert is_candidate(path)


def _tree(root: Path) -> None:
    jpeg = _jpeg_bytes()
    for rel in [
        "a.jpg",
        "B.PNG",
        "sub/c.jpg",
        "sub/deeper/d.jpeg",
        "sub/noext",
        ".hidden.jpg",
        "._a.jpg",
        ".git/e.jpg",
        "__MACOSX/f.jpg",
        "sub/__MACOSX/g.jpg",
        "notes.txt",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)


def test_iter_image_files_skips_hidden_appledouble_and_macosx(tmp_path: Path) -> None:
    _tree(tmp_path)
    got = [p.relative_to(tmp_path).as_posix() for p in iter_image_files(tmp_path)]
    assert sorted(got) == sorted(["a.jpg", "B.PNG", "sub/c.jpg", "sub/deeper/d.jpeg", "sub/noext"])
    assert all(p.is_absolute() for p in iter_image_files(tmp_path))


def test_iter_image_files_is_deterministic(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert list(iter_image_files(tmp_path)) == list(iter_image_files(tmp_path))


def test_symlink_loops_and_duplicate_links_are_walked_once(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "sub" / "deeper" / "up").symlink_to(tmp_path / "sub", target_is_directory=True)
    # a link whose name sorts before its target: the real path must win anyway
    (tmp_path / "0_link.jpg").symlink_to(tmp_path / "sub" / "c.jpg")
    (tmp_path / "0_dirlink").symlink_to(tmp_path / "sub", target_is_directory=True)
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    got = list(iter_image_files(tmp_path))
    rel = sorted(p.relative_to(tmp_path).as_posix() for p in got)
    assert rel == sorted(["a.jpg", "B.PNG", "sub/c.jpg", "sub/deeper/d.jpeg", "sub/noext"])
    real = [os.path.realpath(p) for p in got]
    assert len(set(real)) == len(real)


def test_symlinked_folder_outside_root_is_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(_jpeg_bytes())
    root = tmp_path / "root"
    root.mkdir()
    (root / "photos").symlink_to(outside, target_is_directory=True)
    (root / "single.jpg").symlink_to(outside / "x.jpg")  # same file twice through two links
    got = [p.relative_to(root).as_posix() for p in iter_image_files(root)]
    assert len(got) == 1
    assert got[0] in {"photos/x.jpg", "single.jpg"}


def test_fifo_is_ignored(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "a.jpg").write_bytes(_jpeg_bytes())
    assert [p.name for p in iter_image_files(tmp_path)] == ["a.jpg"]


@pytest.mark.parametrize("name", ["a.heic", "b.HEIF", "c.avif", "d.jfif", "e.JPE"])
def test_other_photo_extensions_are_candidates(tmp_path: Path, name: str) -> None:
    # HEIC without its Pillow plugin cannot be decoded: the scan must report it, not drop it
    path = tmp_path / name
    path.write_bytes(b"whatever")
    assert is_candidate(path)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x18ftypheic", True),
        (b"\x00\x00\x00\x1cftypavif", True),
        (b"\x00\x00\x00\x18ftypmif1", True),
        (b"\x00\x00\x00\x18ftypisom", False),  # an MP4 video
        (b"\x00\x00\x00\x18ftypqt  ", False),  # a QuickTime movie
    ],
)
def test_extensionless_iso_bmff_files_by_brand(tmp_path: Path, head: bytes, expected: bool) -> None:
    path = tmp_path / "IMG_0001"
    path.write_bytes(head + bytes(64))
    assert looks_like_image(path) is expected


def test_problems_are_reported_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorvision_widget.scanning.walk import WalkProblem

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.jpg").write_bytes(_jpeg_bytes())
    (tmp_path / "locked").mkdir()
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "drive").symlink_to(tmp_path / "unmounted")  # a dangling folder link
    real = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == tmp_path / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    problems: list[WalkProblem] = []
    found = list(iter_image_files(tmp_path, problems.append))
    assert found == [tmp_path / "ok" / "a.jpg"]
    got = {(Path(p.path).name, p.kind) for p in problems}
    assert got == {("locked", "unreadable"), ("gone.jpg", "dangling"), ("drive", "dangling")}
    assert all(p.error for p in problems)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_symlink_to_a_fifo_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "pipe")
    (tmp_path / "noext").symlink_to(tmp_path / "pipe")
    assert list(iter_image_files(tmp_path)) == []
