"""colors.py against published reference data and independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vectorvision_widget.images.colors import (
    average_colour,
    backdrop_keywords,
    delta_e,
    delta_e_cie76,
    palette,
    rgb_to_lab,
    transparent_share,
)

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1 (selected pairs,
# chosen to exercise the hue wrap-around, the 180° branch and the blue rotation term).
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
]


def test_ciede2000_matches_sharma_table_vectorised_and_symmetric() -> None:
    lab1 = np.array([p[0] for p in SHARMA])
    lab2 = np.array([p[1] for p in SHARMA])
    expected = np.array([p[2] for p in SHARMA])
    np.testing.assert_allclose(delta_e(lab1, lab2), expected, atol=1e-4)
    np.testing.assert_allclose(delta_e(lab2, lab1), expected, atol=1e-4)
    for a, b, want in SHARMA[:3]:  # scalar inputs give the same numbers
        assert float(delta_e(a, b)) == pytest.approx(want, abs=1e-4)


def test_delta_e_broadcasts_and_is_zero_on_identity() -> None:
    rng = np.random.default_rng(0)
    labs = rgb_to_lab(rng.integers(0, 256, size=(7, 3)))
    np.testing.assert_allclose(delta_e(labs, labs), 0.0, atol=1e-9)
    table = delta_e(labs[:, None, :], labs[None, :, :])
    assert table.shape == (7, 7)
    for i in range(7):
        for j in range(7):
            assert table[i, j] == pytest.approx(float(delta_e(labs[i], labs[j])))
    np.testing.assert_allclose(
        delta_e_cie76(labs[0], labs[1]), np.linalg.norm(labs[0] - labs[1]), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
        ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
        ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
        ((128, 128, 128), (53.5850, 0.0, 0.0)),
    ],
)
def test_rgb_to_lab_known_values(rgb: tuple[int, int, int], lab: tuple[float, ...]) -> None:
    np.testing.assert_allclose(rgb_to_lab(rgb), lab, atol=0.01)


def test_rgb_to_lab_keeps_leading_shape_and_rejects_bad_shape() -> None:
    arr = np.random.default_rng(1).integers(0, 256, size=(4, 5, 3))
    out = rgb_to_lab(arr)
    assert out.shape == (4, 5, 3)
    np.testing.assert_allclose(out[2, 3], rgb_to_lab(arr[2, 3]))
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_lab(np.zeros((4, 4)))


def test_average_colour_equals_numpy_mean() -> None:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    img = Image.fromarray(pixels, "RGB")
    want = np.rint(pixels.reshape(-1, 3).mean(axis=0)).astype(int).tolist()
    assert average_colour(img) == want
    # other modes are converted first
    assert average_colour(img.convert("RGBA")) == want


def _blocks(spec: list[tuple[tuple[int, int, int], int]], width: int = 100) -> Image.Image:
    rows = []
    for colour, height in spec:
        rows.append(np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)))
    return Image.fromarray(np.ascontiguousarray(np.concatenate(rows)), "RGB")


def test_palette_orders_by_area_and_is_deterministic() -> None:
    red, green, blue, white = (220, 20, 30), (20, 180, 40), (30, 40, 200), (250, 250, 250)
    img = _blocks([(green, 30), (red, 45), (white, 10), (blue, 15)])
    pal = palette(img, n=5)
    assert pal[:4] == [list(red), list(green), list(blue), list(white)]
    assert palette(img, n=5) == pal
    two = palette(img, n=2)  # median cut merges boxes: only the count is predictable
    assert len(two) == 2 and all(len(c) == 3 for c in two)


def test_palette_of_flat_and_tiny_images() -> None:
    assert palette(Image.new("RGB", (1, 1), (10, 20, 30))) == [[10, 20, 30]]
    assert palette(Image.new("L", (5, 300), 128)) == [[128, 128, 128]]
    with pytest.raises(ValueError, match="at least 1"):
        palette(Image.new("RGB", (4, 4)), n=0)


def _emoji_png() -> Image.Image:
    """A 64-px "emoji": a yellow disc filling a third of a transparent square, decoded the way
    the scan decodes it (transparent pixels on the models' grey, alpha kept)."""
    import io

    from PIL import ImageDraw

    from vectorvision_widget.images.decode import open_image

    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((12, 12, 52, 52), fill=(250, 200, 0, 255))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    buf.seek(0)
    return open_image(buf)


def test_transparent_pixels_do_not_count_for_average_colour_or_palette() -> None:
    img = _emoji_png()
    assert img.getpixel((0, 0)) == (128, 128, 128)  # the models still see the reference grey
    assert average_colour(img) == [250, 200, 0]  # the grey was 60 % of the pixels
    assert palette(img, n=5)[0] == [250, 200, 0]
    assert [128, 128, 128] not in palette(img, n=5)
    small = img.reduce(2)  # the scan's box-reduced copy keeps the alpha band
    assert average_colour(small) == [250, 200, 0]
    assert 0.5 < transparent_share(img) < 0.7
    opaque = Image.new("RGB", (8, 8), (10, 20, 30))
    assert transparent_share(opaque) == 0.0 and average_colour(opaque) == [10, 20, 30]


def test_grey_keywords_of_a_transparent_colourful_image_are_backdrop() -> None:
    emoji = {"transparent": 0.6, "color": [250, 200, 0]}
    assert backdrop_keywords(emoji)
    assert not backdrop_keywords({"transparent": 0.6, "color": [120, 120, 125]})  # a grey icon
    assert not backdrop_keywords({"color": [250, 200, 0]})  # an opaque photo
    assert not backdrop_keywords({"transparent": "x", "color": None})
