"""Model specs (what each ONNX file is and how to feed it), locating `models/`, and the fetch.

Everything the encoders need to know about a model lives here as frozen data, so the rest of the
code never hard-codes a file name, a tensor name or a preprocessing constant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_MODELS_DIR = "VECTORVISION_MODELS"
VARIANTS = ("quantized", "fp32", "fp16")


@dataclass(frozen=True)
class Preprocess:
    """Image preprocessing from a model's `preprocessor_config.json`.

    resize="shortest_edge": scale so the shorter side is `size`, then centre-crop `crop`.
    resize="exact": scale straight to `size`×`size` (aspect not kept), no crop.
    """

    resize: str
    size: int
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: str = "bicubic"

    @property
    def output_size(self) -> int:
        """Side of the square tensor fed to the model."""
        return self.crop if self.crop is not None else self.size


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an ONNX graph, as the contract in MODELS.md states it."""

    name: str
    dtype: str  # onnxruntime type string, e.g. "tensor(float)"
    rank: int


@dataclass(frozen=True)
class ModelSpec:
    """One ONNX file: where it comes from, where it lands, and its I/O contract."""

    role: str  # "visual" | "vision" | "text"
    filename: str  # name inside the models folder
    repo: str
    revision: str
    repo_files: dict[str, str]  # variant -> path inside the hub repo
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    embedding_output: str  # output whose (pooled) rows are the embedding
    cls_token: bool  # take token 0 of a [B, T, D] output instead of a [B, D] output
    preprocess: Preprocess | None = None
    sha256: tuple[tuple[str, str], ...] = ()  # (variant, sha256) pairs where known


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DINOV2_SMALL = ModelSpec(
    role="visual",
    filename="dinov2_small.onnx",
    repo="Xenova/dinov2-small",
    revision="main",
    repo_files={
        "fp32": "onnx/model.onnx",
        "quantized": "onnx/model_quantized.onnx",
        "fp16": "onnx/model_fp16.onnx",
    },
    inputs=(TensorSpec("pixel_values", "tensor(float)", 4),),
    outputs=(TensorSpec("last_hidden_state", "tensor(float)", 3),),
    embedding_output="last_hidden_state",
    cls_token=True,
    preprocess=Preprocess("shortest_edge", 256, 224, IMAGENET_MEAN, IMAGENET_STD),
)

SIGLIP_VISION = ModelSpec(
    role="vision",
    filename="siglip_vision.onnx",
    repo="Xenova/siglip-base-patch16-224",
    revision="main",
    repo_files={
        "fp32": "onnx/vision_model.onnx",
        "quantized": "onnx/vision_model_quantized.onnx",
        "fp16": "onnx/vision_model_fp16.onnx",
    },
    inputs=(TensorSpec("pixel_values", "tensor(float)", 4),),
    outputs=(TensorSpec("pooler_output", "tensor(float)", 2),),
    embedding_output="pooler_output",
    cls_token=False,
    preprocess=Preprocess("exact", 224, None, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
)

SIGLIP_TEXT = ModelSpec(
    role="text",
    filename="siglip_text.onnx",
    repo="Xenova/siglip-base-patch16-224",
    revision="main",
    repo_files={
        "fp32": "onnx/text_model.onnx",
        "quantized": "onnx/text_model_quantized.onnx",
        "fp16": "onnx/text_model_fp16.onnx",
    },
    inputs=(TensorSpec("input_ids", "tensor(int64)", 2),),
    outputs=(TensorSpec("pooler_output", "tensor(float)", 2),),
    embedding_output="pooler_output",
    cls_token=False,
)


@dataclass(frozen=True)
class TokenizerSpec:
    """SigLIP's tokenizer: fixed length, padded with `pad_id`, no attention mask."""

    filename: str = "siglip_tokenizer.json"
    repo: str = "Xenova/siglip-base-patch16-224"
    revision: str = "main"
    repo_file: str = "tokenizer.json"
    max_length: int = 64
    pad_id: int = 1


SIGLIP_TOKENIZER = TokenizerSpec()


@dataclass(frozen=True)
class ZeroShotSpec:
    """SigLIP's sigmoid zero-shot head: p = sigmoid(scale * cos + bias)."""

    logit_scale: float = 117.330765  # exp(logit_scale) of siglip-base-patch16-224
    logit_bias: float = -12.932437
    prompt: str = "This is a photo of {label}."


SIGLIP_ZERO_SHOT = ZeroShotSpec()

MODEL_SPECS: tuple[ModelSpec, ...] = (DINOV2_SMALL, SIGLIP_VISION, SIGLIP_TEXT)
MANIFEST_FILENAME = "manifest.json"


def resolve_models_dir(models_dir: str | os.PathLike[str] | None = None) -> Path:
    """The models folder: the argument, else $VECTORVISION_MODELS, else ./models."""
    if models_dir is not None:
        return Path(models_dir).expanduser()
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    return Path("models")
