"""thumbnails.py: tiles and sharp thumbnails decode through the one image opener (same pixel
limit, EXIF guard, draft) and never block or break on odd files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import png_bomb
from PIL import Image

import vectorvision_widget.images.decode as images
import vectorvision_widget.thumbs.tiles as thumbnails
from vectorvision_widget.thumbs.tiles import SharpCache, TileCache, load_thumbnail


def test_the_pixel_limit_is_the_image_openers(tmp_path: Path) -> None:
    # 190 MP: over images.DEFAULT_MAX_PIXELS (180 MP) but under the old thumbnail limit (200 MP)
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(19_000, 10_000))
    assert images.DEFAULT_MAX_PIXELS < 19_000 * 10_000
    assert load_thumbnail(str(path), 32, square=True) is None


def test_broken_exif_still_gives_a_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "bad_exif.jpg"
    img = Image.new("RGB", (120, 80), (200, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    raw = bytearray(exif.tobytes())
    raw[-4:] = b"\xff\xff\xff\xff"  # garbage in the IFD
    img.save(path, "JPEG", exif=bytes(raw))
    thumb = load_thumbnail(str(path), 32, square=False)
    assert thumb is not None and thumb.mode == "RGB"
    assert np.asarray(thumb)[..., 0].mean() > 150


def test_exif_rotation_applied(tmp_path: Path) -> None:
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (120, 60), (10, 120, 200)).save(path, "JPEG", exif=exif.tobytes())
    thumb = load_thumbnail(str(path), 64, square=False)
    assert thumb is not None and thumb.size[1] > thumb.size[0]  # upright: portrait


def test_big_jpegs_are_decoded_in_draft_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (2048, 1536), (90, 90, 90)).save(path, "JPEG")
    decoded: list[tuple[int, int]] = []
    original = images.to_rgb

    def spy(img: Image.Image, name: str = "image") -> Image.Image:
        decoded.append(img.size)
        return original(img, name)

    monkeypatch.setattr(images, "to_rgb", spy)
    assert load_thumbnail(str(path), 32, square=True) is not None
    assert decoded and max(decoded[0]) <= 512  # 1/4 (or smaller) DCT scale, not 2048 px


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_never_blocks_tiles_or_sharp_thumbnails(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    out: list[object] = []

    def work() -> None:
        out.append(TileCache().tile(str(fifo), 16, (10, 20, 30)))
        out.append(SharpCache().get(str(fifo), 64, square=False))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO blocked the thumbnail code"
    (tile, ok), sharp = out
    assert not ok and tile.shape == (16, 16, 3) and sharp is None


@pytest.mark.parametrize("name", ["a\x00b.jpg", "caf\udce9.jpg"])
def test_odd_paths_give_placeholders(tmp_path: Path, name: str) -> None:
    tile, ok = TileCache().tile(str(tmp_path / name), 16, None)
    assert not ok and tile.shape == (16, 16, 3)


def test_no_second_opener() -> None:
    assert not hasattr(thumbnails, "_MAX_PIXELS")


def test_transparent_pixels_of_tiles_show_the_map_background_not_the_models_grey(
    tmp_path: Path,
) -> None:
    from PIL import ImageDraw

    from vectorvision_widget.thumbs.cache import make_thumbs

    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((12, 12, 52, 52), fill=(250, 200, 0, 255))
    path = tmp_path / "emoji.png"
    rgba.save(path)
    tile = thumbnails.load_thumbnail(str(path), 32, square=True)
    assert tile is not None
    bg = thumbnails.DISPLAY_BACKGROUND
    assert tile.getpixel((0, 0)) == bg and tile.getpixel((16, 16)) == (250, 200, 0)
    raw, _ = thumbnails.TileCache().tile(str(path), 16, None)
    assert tuple(raw[0, 0]) == bg
    decoded = images.open_image(str(path))
    assert decoded.getpixel((0, 0)) == images.BACKGROUND  # the encoders' input is unchanged
    scan_tile = np.frombuffer(make_thumbs(decoded)["tile"], np.uint8).reshape(32, 32, 3)
    assert tuple(scan_tile[0, 0]) == bg
    # half-transparent red over grey, put on the background instead: exact blend
    half = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    shown = thumbnails.for_display(images.open_image(half))
    a = 128 / 255
    want = tuple(round(a * c + (1 - a) * b) for c, b in zip((255, 0, 0), bg, strict=True))
    assert all(abs(x - y) <= 1 for x, y in zip(shown.getpixel((0, 0)), want, strict=True))


def test_sharp_sizes_for_follows_the_typical_source_size() -> None:
    assert thumbnails.sharp_sizes_for([(64, 64)] * 10) == [16, 32, 64]
    assert thumbnails.sharp_sizes_for([(4000, 3000)] * 10) == list(thumbnails.SHARP_SIZES)
    assert thumbnails.sharp_sizes_for([(8, 8)]) == [16]
    assert thumbnails.sharp_sizes_for([(None, None), ("x", 3)]) == list(thumbnails.SHARP_SIZES)
    assert thumbnails.sharp_sizes_for([]) == list(thumbnails.SHARP_SIZES)
    # a few photos among many icons do not let every icon be blown up
    assert thumbnails.sharp_sizes_for([(64, 64)] * 95 + [(4000, 3000)] * 5) == [16, 32, 64]
