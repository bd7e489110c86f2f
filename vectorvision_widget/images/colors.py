"""Average colour, dominant palette, and perceptual colour distance (CIELAB, CIEDE2000).

Transparent pixels do not count: the decoder puts them on the models' grey and keeps the alpha
band (`decode.alpha_of`), and the average and palette are of the visible pixels only (the
average weighted by alpha, the palette of the mostly opaque pixels), so an emoji or a logo is
its own colours, not "grey", in the tooltip, Colour mode and colour search.

Colour search compares colours in CIELAB because equal RGB steps are not equal perceived steps;
ΔE is CIEDE2000 (the CIE's current recommendation) rather than CIE76, whose plain Euclidean
distance overstates differences between saturated colours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageStat

from vectorvision_widget.images.decode import BACKGROUND, alpha_of

__all__ = [
    "average_colour",
    "backdrop_keywords",
    "delta_e",
    "delta_e_cie76",
    "palette",
    "palette_distance",
    "palettes_to_lab",
    "rgb_to_lab",
    "transparent_share",
]

# Palettes are computed on a small copy: a few thousand pixels give the same dominant colours as
# millions, and median cut on 64×64 costs ~1 ms instead of ~100 ms on a 12 MP photo.
_PALETTE_THUMB = 64

# sRGB (D65) -> CIE XYZ, IEC 61966-2-1.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


# A pixel at least this opaque counts for the palette (alpha 0..255).
_OPAQUE = 128


def _visible(img: Image.Image) -> tuple[np.ndarray, np.ndarray] | None:
    """(colours (N, 3) float, alpha (N,) 0..1) of an image with transparency, colours taken off
    the grey they were composited on; None for an opaque image."""
    alpha = alpha_of(img)
    if alpha is None:
        return None
    rgb = np.asarray(_rgb(img), dtype=np.float64).reshape(-1, 3)
    a = np.asarray(alpha, dtype=np.float64).reshape(-1) / 255.0
    grey = np.asarray(BACKGROUND, dtype=np.float64)
    # composited = a·colour + (1 − a)·grey, so colour = (composited − (1 − a)·grey) / a
    colour = (rgb - (1.0 - a)[:, None] * grey) / np.maximum(a, 1e-6)[:, None]
    return np.clip(colour, 0.0, 255.0), a


def average_colour(img: Image.Image) -> list[int]:
    """Mean sRGB colour of the image's visible pixels as three ints 0..255 (weighted by alpha
    for images with transparency; a fully transparent image gives its composited grey).

    Opaque images use Pillow's histogram statistics, which are exact and avoid materialising a
    float copy of a large photo.
    """
    visible = _visible(img)
    if visible is not None and visible[1].sum() > 0:
        colour, a = visible
        mean = (colour * a[:, None]).sum(axis=0) / a.sum()
    else:
        mean = np.asarray(ImageStat.Stat(_rgb(img)).mean[:3])
    return [round(min(255.0, max(0.0, float(c)))) for c in mean[:3]]


def transparent_share(img: Image.Image) -> float:
    """Share of the image's pixels that are mostly transparent (alpha < 128), 0.0 for opaque."""
    alpha = alpha_of(img)
    if alpha is None:
        return 0.0
    a = np.asarray(alpha)
    return float((a < _OPAQUE).mean()) if a.size else 0.0


#: Keywords the models give the grey that transparent pixels are shown to them on.
BACKDROP_WORDS = frozenset({"grey", "gray"})
#: A record at least this transparent whose visible colour has at least this CIELAB chroma.
_BACKDROP_SHARE, _BACKDROP_CHROMA = 0.05, 12.0


def backdrop_keywords(record: dict[str, Any]) -> bool:
    """Whether a record's grey keywords describe the backdrop, not the image: the models see
    transparent pixels on grey (the reference preprocessing), so an emoji or logo is tagged
    "grey" though its visible colour (alpha-weighted `average_colour`) is not grey."""
    share = record.get("transparent")
    colour = record.get("color")
    if not isinstance(share, (int, float)) or share < _BACKDROP_SHARE:
        return False
    if not isinstance(colour, list) or len(colour) < 3:
        return False
    lab = rgb_to_lab(np.asarray(colour[:3], dtype=np.float64))
    return bool(np.hypot(lab[1], lab[2]) >= _BACKDROP_CHROMA)


def palette(img: Image.Image, n: int = 5) -> list[list[int]]:
    """Up to `n` dominant colours, most common first, as [[r, g, b], ...].

    Median-cut quantisation (no dithering, so pixel counts are honest) of a ≤64 px copy; the
    result is deterministic for a given image. Images with fewer distinct colours give fewer
    entries. Of an image with transparency only the mostly opaque pixels count.
    """
    if n < 1:
        msg = f"palette size must be at least 1, got n={n}"
        raise ValueError(msg)
    small = _rgb(img).copy()
    small.thumbnail((_PALETTE_THUMB, _PALETTE_THUMB), Image.Resampling.BOX)
    visible = _visible(small)
    if visible is not None and (visible[1] >= _OPAQUE / 255).any():
        seen, a = visible
        pixels = np.rint(seen[a >= _OPAQUE / 255]).astype(np.uint8)
        small = Image.fromarray(pixels.reshape(1, -1, 3), "RGB")
    quantized = small.quantize(colors=n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    flat = quantized.getpalette() or []
    # a "P" image counts palette indices: (count, index)
    counts = [(c, i) for c, i in quantized.getcolors(maxcolors=256) or [] if isinstance(i, int)]
    # Most common first; ties broken by palette index so the order never depends on luck.
    counts.sort(key=lambda ci: (-ci[0], ci[1]))
    out: list[list[int]] = []
    for _, idx in counts:
        colour = [int(v) for v in flat[3 * idx : 3 * idx + 3]]
        if colour not in out:
            out.append(colour)
    return out[:n]


def rgb_to_lab(rgb: Any) -> np.ndarray:
    """sRGB values 0..255, shape (..., 3) -> CIELAB (D65 white), same shape, float64."""
    arr = np.asarray(rgb, dtype=np.float64)
    if arr.shape[-1:] != (3,):
        msg = f"rgb_to_lab expects an array whose last axis has 3 channels, got shape {arr.shape}"
        raise ValueError(msg)
    c = arr / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    lab: np.ndarray = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def delta_e_cie76(lab1: Any, lab2: Any) -> np.ndarray:
    """CIE76 ΔE: Euclidean distance in Lab (broadcasts). Kept for comparison and speed."""
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    dist: np.ndarray = np.sqrt(((a - b) ** 2).sum(axis=-1))
    return dist


def delta_e(lab1: Any, lab2: Any) -> np.ndarray:
    """CIEDE2000 colour difference between Lab colours (..., 3); broadcasts like numpy.

    Follows Sharma, Wu & Dalal (2005) with kL = kC = kH = 1. About 1 is a just-noticeable
    difference; 2–10 "similar at a glance"; above ~25 clearly different colours.
    """
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    l2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]

    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0

    dlp = l2 - l1
    dcp = c2p - c1p
    chroma_zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    dhp = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    lp_bar = (l1 + l2) / 2.0
    cp_bar = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_far = np.abs(h1p - h2p) > 180.0
    hp_bar = np.where(h_far, np.where(h_sum < 360.0, h_sum + 360.0, h_sum - 360.0), h_sum) / 2.0
    hp_bar = np.where(chroma_zero, h_sum, hp_bar)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(hp_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * hp_bar))
        + 0.32 * np.cos(np.radians(3.0 * hp_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * hp_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((hp_bar - 275.0) / 25.0) ** 2))
    cp_bar7 = cp_bar**7
    r_c = 2.0 * np.sqrt(cp_bar7 / (cp_bar7 + 25.0**7))
    lp50 = (lp_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * lp50 / np.sqrt(20.0 + lp50)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    tl = dlp / s_l
    tc = dcp / s_c
    th = dhp / s_h
    de: np.ndarray = np.sqrt(tl**2 + tc**2 + th**2 + r_t * tc * th)
    return de


def palettes_to_lab(palettes: list[list[list[int]]]) -> np.ndarray:
    """(N, P, 3) Lab of N palettes of up to P colours; shorter palettes are padded with NaN."""
    width = max((len(p) for p in palettes), default=0) or 1
    rgb = np.full((len(palettes), width, 3), np.nan)
    for i, pal in enumerate(palettes):
        if pal:
            rgb[i, : len(pal)] = pal
    return rgb_to_lab(rgb)


def palette_distance(rgb: Any, palettes_lab: np.ndarray, *, rank_weight: float = 1.0) -> np.ndarray:
    """Per palette: min over its colours j of ΔE2000(rgb, colour_j) + rank_weight·j; inf if empty.

    The rank term lets an image where the colour dominates outrank one where it is a detail.
    """
    target = rgb_to_lab(np.asarray(rgb, dtype=np.float64))
    de = delta_e(target, palettes_lab) + rank_weight * np.arange(palettes_lab.shape[1])
    best: np.ndarray = np.where(np.isnan(de), np.inf, de).min(axis=1)
    return best
