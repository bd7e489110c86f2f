"""Model preprocessing: an RGB image to the exact float32 tensor a model expects.

Preprocessing follows each model's `preprocessor_config.json` as Hugging Face applies it (PIL
bicubic resize on 8-bit RGB, then /255, mean/std), so our vectors match the reference
implementations. `Preprocess` is the frozen description of one model's steps; the model specs
(`models.specs`) hold one per model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vectorvision_widget.images.decode import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PIXEL_BUDGET,
    ImageSource,
    open_image,
    to_rgb,
)

_MAX_INTERMEDIATE = 4_000_000  # pixels of a resized image before the crop; see preprocess()
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class Preprocess:
    """Image preprocessing from a model's `preprocessor_config.json`.

    resize="shortest_edge": scale so the shorter side is `size`, then centre-crop `crop`.
    resize="exact": scale straight to `size`×`size` (aspect not kept), no crop.
    """

    resize: str
    size: int
    crop: int | None
    mean: tuple[float, ...]  # 3 values (checked below: configs come from JSON)
    std: tuple[float, ...]
    resample: str = "bicubic"

    def __post_init__(self) -> None:
        if self.resize not in ("shortest_edge", "exact"):
            msg = f"Preprocess.resize must be 'shortest_edge' or 'exact', not {self.resize!r}"
            raise ValueError(msg)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            msg = f"Preprocess needs 3 means and 3 positive stds, got {self.mean}, {self.std}"
            raise ValueError(msg)

    @property
    def output_size(self) -> int:
        """Side of the square tensor fed to the model."""
        return self.crop if self.crop is not None else self.size


def resize_shape(width: int, height: int, spec: Preprocess) -> tuple[int, int]:
    """(width, height) after the spec's resize, computed exactly as Hugging Face does."""
    if spec.resize == "exact":
        return spec.size, spec.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(spec.size * long / short)
    return (spec.size, new_long) if width <= height else (new_long, spec.size)


def required_size(*specs: Preprocess) -> int:
    """The smallest shorter side a decoded image needs so no spec upsamples a drafted JPEG."""
    return max(s.size for s in specs)


def preprocess(img: Image.Image, spec: Preprocess) -> np.ndarray:
    """RGB PIL image -> float32 (3, S, S) tensor: resize, centre crop, /255, (x - mean) / std.

    Resize-then-crop is exact Hugging Face behaviour. Only for extreme panoramas, whose resized
    intermediate would be huge (1×5000 -> 256×1,280,000), is just the source region that lands in
    the crop resized (`Image.resize(box=...)`): same geometry, tiny 8-bit rounding differences.
    """
    if img.mode != "RGB":
        img = to_rgb(img)
    resample = _RESAMPLE[spec.resample]
    w, h = img.size
    new_w, new_h = resize_shape(w, h, spec)
    out = spec.output_size
    if spec.crop is None:
        resized = img.resize((new_w, new_h), resample)
    elif new_w * new_h <= _MAX_INTERMEDIATE and new_w >= out and new_h >= out:
        resized = img.resize((new_w, new_h), resample).crop(_crop_box(new_w, new_h, out))
    elif new_w >= out and new_h >= out:
        left, top, right, bottom = _crop_box(new_w, new_h, out)
        sx, sy = w / new_w, h / new_h
        box = (left * sx, top * sy, right * sx, bottom * sy)
        resized = img.resize((out, out), resample, box=box)
    else:  # crop larger than the resized image: pad with black like HF's center_crop
        resized = img.resize((new_w, new_h), resample)
        canvas = Image.new("RGB", (max(new_w, out), max(new_h, out)))
        canvas.paste(resized, ((canvas.width - new_w) // 2, (canvas.height - new_h) // 2))
        resized = canvas.crop(_crop_box(canvas.width, canvas.height, out))
    arr = np.asarray(resized, dtype=np.float32) * np.float32(1 / 255)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(((arr - mean) / std).transpose(2, 0, 1), dtype=np.float32)


def _crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """Hugging Face's centre crop: offsets rounded down."""
    top = (height - crop) // 2
    left = (width - crop) // 2
    return left, top, left + crop, top + crop


def load_for_models(
    source: ImageSource,
    *specs: Preprocess,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    pixel_budget: int | None = DEFAULT_PIXEL_BUDGET,
) -> Image.Image:
    """open_image with the draft size the given specs allow (what the encoders use for paths)."""
    return open_image(
        source, max_pixels=max_pixels, min_size=required_size(*specs), pixel_budget=pixel_budget
    )
