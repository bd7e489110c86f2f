"""Decoding to RGB and the models' preprocessing, checked against independent computations."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget.images.decode as images
from vectorvision_widget.images.decode import ImageDecodeError, open_image, thumbnail
from vectorvision_widget.images.preprocess import preprocess
from vectorvision_widget.models.specs import DINOV2_SMALL, SIGLIP_VISION

DINO = DINOV2_SMALL.preprocess
SIGLIP = SIGLIP_VISION.preprocess
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _expected_uniform(rgb: tuple[int, int, int], model: str) -> np.ndarray:
    """What a uniform image of colour `rgb` must become, per channel (docs/models.md formulas)."""
    x = np.asarray(rgb, dtype=np.float64) / 255.0
    return x / 0.5 - 1.0 if model == "siglip" else (x - IMAGENET_MEAN) / IMAGENET_STD


def _hf_reference(img: Image.Image, model: str) -> np.ndarray:
    """Independent re-statement of the HF image processors (resize, crop, rescale, normalise)."""
    w, h = img.size
    if model == "siglip":
        out = img.resize((224, 224), Image.Resampling.BICUBIC)
        arr = np.asarray(out, dtype=np.float64) / 255.0
        arr = (arr - 0.5) / 0.5
    else:
        size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
        out = np.asarray(img.resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
        top, left = (size[1] - 224) // 2, (size[0] - 224) // 2
        arr = out[top : top + 224, left : left + 224] / 255.0
        arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    return arr.transpose(2, 0, 1)


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


# --- preprocessing numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["siglip", "dinov2"])
@pytest.mark.parametrize("size", [(1, 1), (224, 224), (640, 480), (300, 400), (1, 5000)])
def test_uniform_image_gives_the_normalised_colour_everywhere(model: str, size: tuple) -> None:
    rgb = (200, 30, 90)
    tensor = preprocess(Image.new("RGB", size, rgb), SIGLIP if model == "siglip" else DINO)
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    want = _expected_uniform(rgb, model)
    np.testing.assert_allclose(
        tensor, np.broadcast_to(want[:, None, None], tensor.shape), atol=1e-5
    )


@pytest.mark.parametrize("model", ["siglip", "dinov2"])
@pytest.mark.parametrize("size", [(640, 480), (300, 400), (257, 1000), (225, 225), (40, 30)])
def test_random_pixels_match_the_reference_processor(model: str, size: tuple) -> None:
    img = _noise(*size)
    got = preprocess(img, SIGLIP if model == "siglip" else DINO)
    np.testing.assert_allclose(got, _hf_reference(img, model), atol=1e-5)


def test_layout_is_kept_channels_first_and_not_mirrored() -> None:
    arr = np.zeros((224, 224, 3), np.uint8)
    arr[:112, :, 0] = 255  # top half red
    arr[:, 112:, 2] = 255  # right half blue
    t = preprocess(Image.fromarray(arr), SIGLIP)
    assert t[0, 10, 10] == pytest.approx(1.0) and t[0, 200, 10] == pytest.approx(-1.0)
    assert t[2, 10, 200] == pytest.approx(1.0) and t[2, 10, 10] == pytest.approx(-1.0)
    assert t[1].max() == pytest.approx(-1.0)


def test_dinov2_crop_takes_the_centre_of_a_panorama() -> None:
    # 1×5000 gradient: 256×1,280,000 after the resize; only the centre 224 columns are kept
    ramp = np.linspace(0, 255, 5000)
    arr = np.repeat(np.rint(ramp).astype(np.uint8)[None, :, None], 3, axis=2)
    t = preprocess(Image.fromarray(arr), DINO)
    centre = (t[0, 112, 112] * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
    assert centre == pytest.approx(127.5, abs=1.5)
    tall = preprocess(Image.fromarray(arr.transpose(1, 0, 2)), DINO)
    np.testing.assert_allclose(tall, t.transpose(0, 2, 1), atol=1e-5)


# --- decoding odd modes ------------------------------------------------------------------------


def _grey_mix(c: int, alpha: int) -> int:
    return round(c * alpha / 255 + 128 * (1 - alpha / 255))


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_rgba_is_composited_onto_neutral_grey(alpha: int) -> None:
    img = open_image(Image.new("RGBA", (4, 4), (255, 0, 40, alpha)))
    assert img.mode == "RGB"
    got = img.getpixel((1, 1))
    want = (_grey_mix(255, alpha), _grey_mix(0, alpha), _grey_mix(40, alpha))
    assert all(abs(g - w) <= 1 for g, w in zip(got, want, strict=True))


def test_la_and_palette_transparency_become_grey() -> None:
    assert open_image(Image.new("LA", (3, 3), (200, 0))).getpixel((0, 0)) == (128, 128, 128)
    p = Image.new("P", (4, 2), 0)
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.putpixel((3, 1), 1)
    p.info["transparency"] = 0
    buf = io.BytesIO()
    p.save(buf, "PNG")
    rgb = open_image(buf.getvalue())
    assert rgb.getpixel((0, 0)) == (128, 128, 128)  # transparent index
    assert rgb.getpixel((3, 1)) == (0, 255, 0)


def test_cmyk_converts_to_rgb() -> None:
    rgb = open_image(Image.new("CMYK", (2, 2), (0, 255, 255, 0)))
    assert rgb.getpixel((0, 0)) == (255, 0, 0)
    buf = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 0, 255, 0)).save(buf, "JPEG", quality=95)  # yellow
    r, g, b = open_image(buf.getvalue()).getpixel((8, 8))
    assert r > 240 and g > 240 and b < 20


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 64, 32768, 65535]], dtype=np.uint16)
    src = Image.fromarray(values)
    assert src.mode.startswith("I;16")
    src.save(tmp_path / "g16.png")
    for source in (src, tmp_path / "g16.png"):
        row = [open_image(source).getpixel((x, 0))[0] for x in range(4)]
        assert row == [0, 64, round(32768 / 257), 255]


def test_bilevel_and_greyscale_become_rgb() -> None:
    assert open_image(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert open_image(Image.new("L", (2, 2), 77)).getpixel((1, 1)) == (77, 77, 77)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)  # stored: left red, right blue
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed = stored rotated 90° clockwise: left -> top
    Image.fromarray(arr).save(tmp_path / "rot.jpg", quality=95, exif=exif)
    img = open_image(tmp_path / "rot.jpg")
    assert img.size == (20, 40)
    top, bottom = img.getpixel((10, 5)), img.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    r, _, b = open_image(buf.getvalue()).getpixel((4, 4))
    assert r > 200 and b < 50


def test_big_jpeg_is_drafted_but_reports_its_real_size(tmp_path: Path) -> None:
    _noise(2000, 1200).save(tmp_path / "big.jpg", quality=80)
    small = open_image(tmp_path / "big.jpg", min_size=256)
    assert min(small.size) >= 256 and small.width < 2000
    assert small.info["original_size"] == (2000, 1200)
    assert open_image(tmp_path / "big.jpg").size == (2000, 1200)


def test_path_bytes_and_file_object_agree(tmp_path: Path) -> None:
    _noise(30, 20).save(tmp_path / "a.png")
    a = np.asarray(open_image(tmp_path / "a.png"))
    b = np.asarray(open_image((tmp_path / "a.png").read_bytes()))
    with open(tmp_path / "a.png", "rb") as fh:
        c = np.asarray(open_image(fh))
    assert np.array_equal(a, b) and np.array_equal(a, c)


# --- failures ----------------------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but holds no pixel data (a bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [20_000, 60_000])  # under / over Pillow's own bomb limit
def test_decompression_bomb_is_refused_from_the_header(side: int) -> None:
    with pytest.raises(ImageDecodeError, match="pixels"):
        open_image(_png_header_only(side, side), max_pixels=100_000_000)


def test_pixel_limit_is_configurable() -> None:
    img = Image.new("RGB", (100, 100))
    with pytest.raises(ImageDecodeError, match="10,000 pixels exceeds the limit of 9,999"):
        open_image(img, max_pixels=9_999)
    assert open_image(img, max_pixels=None).size == (100, 100)


def test_truncated_and_non_image_files_raise_decode_errors(tmp_path: Path) -> None:
    _noise(200, 200).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg.*truncated"):
        open_image(tmp_path / "cut.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ImageDecodeError, match=r"notes\.jpg.*not an image format"):
        open_image(tmp_path / "notes.jpg")
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "missing.jpg")
    assert issubclass(ImageDecodeError, ValueError)


# --- thumbnails --------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "want"), [((400, 200), (64, 32)), ((30, 90), (21, 64))])
def test_thumbnail_fits_keeps_aspect_and_is_rgb(size: tuple, want: tuple) -> None:
    thumb = thumbnail(Image.new("RGBA", size, (0, 0, 255, 255)), 64)
    assert thumb.mode == "RGB" and thumb.size == want
    assert thumbnail(Image.new("RGB", (10, 10)), 64).size == (10, 10)  # never upscaled
    with pytest.raises(ValueError, match="positive"):
        images.thumbnail(thumb, 0)


# --- special files and bounded memory (one opener for scan and thumbnails) ----------------------


def _in_thread(fn, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Run fn in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    import threading

    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked: a non-regular file was opened for reading"
    return box


def test_fifo_socket_and_device_are_refused_without_blocking(tmp_path: Path) -> None:
    import os
    import socket

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.jpg"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    try:
        for path in (fifo, sock_path, Path("/dev/null")):
            for fn in (open_image, images.probe):
                box = _in_thread(lambda fn=fn, path=path: fn(path))
                error = box.get("error")
                assert isinstance(error, (ImageDecodeError, OSError)), (path, box)
                if isinstance(error, ImageDecodeError):
                    assert "not a regular file" in str(error)
    finally:
        sock.close()


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG streamed row by row (a few MB to write, width*height pixels)."""
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _peak_rss_mb(code: str) -> tuple[float, str]:
    """Run `code` in a fresh Python and return (its peak RSS in MB, its stdout)."""
    import subprocess
    import sys

    peak = "import resource; print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    script = code + "\n" + peak
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    peak = [line for line in out.splitlines() if line.startswith("PEAK")][-1]
    return int(peak.split()[1]) / 1024, out


PROBE = """
from PIL import Image
import numpy
import vectorvision_widget.images.decode as images
import resource
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print('BASE', base)
try:
    images.{fn}({path!r})
    print('DECODED')
except images.ImageDecodeError as exc:
    print('REFUSED', exc)
"""


def test_big_png_over_the_pixel_budget_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_bilevel_png(14_000, 12_000))  # 168 MP: 504 MB as RGB
    assert path.stat().st_size < 2_000_000
    peak, out = _peak_rss_mb(PROBE.format(fn="open_image", path=str(path)))
    assert "REFUSED" in out and "decode budget" in out and "PNG cannot be reduced" in out, out
    base = int(next(line for line in out.splitlines() if line.startswith("BASE")).split()[1]) / 1024
    assert peak - base < 40, f"peak {peak:.0f} MB vs {base:.0f} MB after imports"
    # a budget big enough decodes it (in this process: a 1-bit image is 168 MB as L, so use less)
    small = tmp_path / "ok.png"
    small.write_bytes(_bilevel_png(1400, 1200))
    assert open_image(small, pixel_budget=2_000_000).size == (1400, 1200)
    with pytest.raises(ImageDecodeError, match=r"1400×1200 = 1,680,000 pixels exceeds the decode"):
        open_image(small, pixel_budget=1_000_000)


def test_big_jpeg_over_the_budget_is_reduced_while_decoding(tmp_path: Path) -> None:
    _noise(2000, 1500).save(tmp_path / "big.jpg", quality=80)
    img = open_image(tmp_path / "big.jpg", pixel_budget=1_000_000)
    assert img.size == (1000, 750) and img.info["original_size"] == (2000, 1500)
    img = open_image(tmp_path / "big.jpg", pixel_budget=100_000)  # needs 1/8: 250×188
    assert img.size == (250, 188)
    with pytest.raises(ImageDecodeError, match="even at 1/8 scale"):
        open_image(tmp_path / "big.jpg", pixel_budget=10_000)
    # with min_size the stronger reduction of the two wins, never below min_size unless needed
    assert open_image(tmp_path / "big.jpg", min_size=224, pixel_budget=None).size == (500, 375)
    assert open_image(tmp_path / "big.jpg", min_size=600, pixel_budget=None).size == (1000, 750)


def test_a_1gb_non_image_is_refused_from_its_header_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "video.jpg"
    with open(path, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42")  # an MP4 header, then a sparse gigabyte
        fh.truncate(1 << 30)
    for fn in ("probe", "open_image"):
        peak, out = _peak_rss_mb(PROBE.format(fn=fn, path=str(path)))
        assert "REFUSED" in out and "not an image format" in out, out
        base = int(next(ln for ln in out.splitlines() if ln.startswith("BASE")).split()[1]) / 1024
        # reading the file whole would add >= 1024 MB; the header costs next to nothing
        assert peak - base < 256, f"{fn}: peak RSS {peak:.0f} MB (after imports {base:.0f} MB)"


def test_probe_reads_the_header_and_rewinds_a_file_object(tmp_path: Path) -> None:
    _noise(300, 200).save(tmp_path / "a.png")
    assert images.probe(tmp_path / "a.png") == {"width": 300, "height": 200, "format": "PNG"}
    with open(tmp_path / "a.png", "rb") as fh:
        fh.seek(0)
        assert images.probe(fh)["width"] == 300
        assert fh.tell() == 0
    with pytest.raises(ImageDecodeError, match="exceeds the limit"):
        images.probe(tmp_path / "a.png", max_pixels=1000)
    assert images.DEFAULT_PIXEL_BUDGET < images.DEFAULT_MAX_PIXELS
