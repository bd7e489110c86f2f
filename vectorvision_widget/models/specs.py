"""Model specs: what each ONNX file is, where it comes from, and how to feed it (frozen data only).

Everything the encoders need to know about a model lives here as frozen data, so the rest of the
code never hard-codes a file name, a tensor name or a preprocessing constant. This module does no
IO beyond reading an environment variable: hashing and manifest.json live in `manifest.py`, the
download in `fetch.py` (both depend on this module, never the reverse).

The registry offers more than one model per role (docs/models.md): "visual" (look: DINOv2) and
"semantic" (meaning: a SigLIP vision + text pair with its tokenizer and zero-shot calibration).
Revisions and sha256 values are pinned where public sources list them; a `None` sha256 is checked
against the hub's own at the first fetch (an LFS file's etag is its sha256) and a `None` revision is
resolved once at the first fetch; both are then recorded in the folder's manifest.json, which later
fetches and every `Encoders.load` hold the files to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypedDict, TypeVar

from vectorvision_widget.images.preprocess import Preprocess

ENV_MODELS_DIR = "VECTORVISION_MODELS"
VARIANTS = ("quantized", "fp32", "fp16")
HF_ENDPOINT = "https://huggingface.co"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SHA256_RE = SHA256_RE  # old private name


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an ONNX graph, as the contract in docs/models.md states it."""

    name: str
    dtype: str  # onnxruntime type string, e.g. "tensor(float)"
    rank: int


@dataclass(frozen=True)
class ModelSpec:
    """One ONNX file: where it comes from, where it lands, and its I/O contract."""

    role: str  # "visual" | "vision" | "text"
    filename: str  # name inside the models folder
    repo: str
    revision: str | None  # a commit; None = resolved at the first fetch, then kept in the manifest
    repo_files: Mapping[str, str]  # variant -> path inside the hub repo (read-only)
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    embedding_output: str  # output whose (pooled) rows are the embedding
    cls_token: bool  # take token 0 of a [B, T, D] output instead of a [B, D] output
    preprocess: Preprocess | None = None
    sha256: tuple[tuple[str, str], ...] = ()  # (variant, sha256) pairs where a source lists one
    sizes: tuple[tuple[str, int], ...] = ()  # (variant, bytes) pairs where known
    published_dim: int | None = None  # of the published weights; informational, never enforced

    def __post_init__(self) -> None:
        # Frozen means frozen: a dict field could still be mutated in place.
        object.__setattr__(self, "repo_files", MappingProxyType(dict(self.repo_files)))
        missing = [v for v in VARIANTS if v not in self.repo_files]
        unknown = [v for v, _ in (*self.sha256, *self.sizes) if v not in self.repo_files]
        bad_sha = [s for _, s in self.sha256 if not SHA256_RE.match(s)]
        if missing or unknown or bad_sha:
            msg = f"spec {self.filename}: missing {missing}, unknown {unknown}, bad sha {bad_sha}"
            raise ValueError(msg)

    def repo_file(self, variant: str) -> str:
        """Path inside the hub repo of `variant` (ValueError naming the valid ones)."""
        check_variant(variant)
        return self.repo_files[variant]

    def sha256_for(self, variant: str) -> str | None:
        """Pinned sha256 of `variant`; None where no source lists one (checked at first fetch)."""
        return dict(self.sha256).get(variant)

    def size_for(self, variant: str) -> int | None:
        """Size in bytes of `variant`, or None where unknown."""
        return dict(self.sizes).get(variant)


@dataclass(frozen=True)
class TokenizerSpec:
    """A SigLIP tokenizer: fixed length, padded with `pad_id`, no attention mask."""

    filename: str
    repo: str
    revision: str | None
    repo_file: str = "tokenizer.json"
    max_length: int = 64
    pad_id: int = 1
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ZeroShotSpec:
    """SigLIP's sigmoid zero-shot head: p = sigmoid(scale * cos + bias), per model.

    `logit_scale` is exp() of the checkpoint's learned logit_scale. None where no source we could
    check publishes the values: the fetch then reads them from `checkpoint` (the original
    model.safetensors, two 4-byte values fetched by range requests) into manifest.json, and without
    them keywords rank by cosine only (see keywords.py).
    """

    logit_scale: float | None
    logit_bias: float | None
    prompt: str = "This is a photo of {label}."
    checkpoint: str | None = None  # hub repo whose model.safetensors holds logit_scale/logit_bias

    @property
    def calibrated(self) -> bool:
        return self.logit_scale is not None and self.logit_bias is not None


class RegisteredModel:
    """What every registry entry has: a name, and the files it needs in the models folder."""

    name: str

    @property
    def files(self) -> tuple[str, ...]:
        raise NotImplementedError


@dataclass(frozen=True)
class VisualModel(RegisteredModel):
    """A model for the "look" space (`visualFeatures`)."""

    name: str
    model: ModelSpec
    description: str

    @property
    def files(self) -> tuple[str, ...]:
        return (self.model.filename,)


@dataclass(frozen=True)
class SemanticModel(RegisteredModel):
    """A SigLIP pair for the "meaning" space (`features`) and text search/keywords."""

    name: str
    vision: ModelSpec
    text: ModelSpec
    tokenizer: TokenizerSpec
    zero_shot: ZeroShotSpec
    description: str

    @property
    def files(self) -> tuple[str, ...]:
        return (self.vision.filename, self.text.filename, self.tokenizer.filename)


class _GraphIO(TypedDict):
    """The I/O contract that models of one architecture share (`ModelSpec` keywords)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    embedding_output: str
    cls_token: bool


class _ImageGraphIO(_GraphIO):
    preprocess: Preprocess


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DINO_IO: _ImageGraphIO = {
    "inputs": (TensorSpec("pixel_values", "tensor(float)", 4),),
    "outputs": (TensorSpec("last_hidden_state", "tensor(float)", 3),),
    "embedding_output": "last_hidden_state",
    "cls_token": True,
    "preprocess": Preprocess("shortest_edge", 256, 224, IMAGENET_MEAN, IMAGENET_STD),
}
_DINO_FILES = {
    "fp32": "onnx/model.onnx",
    "quantized": "onnx/model_quantized.onnx",
    "fp16": "onnx/model_fp16.onnx",
}
_SIGLIP_VISION_IO: _GraphIO = {
    "inputs": (TensorSpec("pixel_values", "tensor(float)", 4),),
    "outputs": (TensorSpec("pooler_output", "tensor(float)", 2),),
    "embedding_output": "pooler_output",
    "cls_token": False,
}
_SIGLIP_TEXT_IO: _GraphIO = {
    "inputs": (TensorSpec("input_ids", "tensor(int64)", 2),),
    "outputs": (TensorSpec("pooler_output", "tensor(float)", 2),),
    "embedding_output": "pooler_output",
    "cls_token": False,
}


def _siglip_files(tower: str) -> dict[str, str]:
    return {
        "fp32": f"onnx/{tower}_model.onnx",
        "quantized": f"onnx/{tower}_model_quantized.onnx",
        "fp16": f"onnx/{tower}_model_fp16.onnx",
    }


# --- look: DINOv2 ------------------------------------------------------------------------------

DINOV2_SMALL = ModelSpec(
    role="visual",
    filename="dinov2_small.onnx",
    repo="Xenova/dinov2-small",
    revision="c2bb04a51fab207c420665f1946016107bffc701",
    repo_files=_DINO_FILES,
    **_DINO_IO,
    sha256=(
        ("fp32", "83141175ec78b4ff9a2bb58a4c7c264ba0054d1c2e122e5a8114b79a8d4179ea"),
        ("quantized", "3afdc8bc63b50558d6e5770f5b799bb82455c2311183a2de43803f343a29d917"),
        ("fp16", "4e9ea6fe106e2225e28ee3c1c3d53b5b92aa4af62142f6ed6b66b6a92213cf04"),
    ),
    sizes=(("fp32", 88_459_888), ("quantized", 24_451_943), ("fp16", 44_427_534)),
    published_dim=384,
)

#: DINOv2-base (768-d). fp32 pinned as a public model registry pins it (revision, size, sha256);
#: the quantized and fp16 files are checked against the hub's sha256 at the first fetch.
DINOV2_BASE = ModelSpec(
    role="visual",
    filename="dinov2_base.onnx",
    repo="onnx-community/dinov2-base",
    revision="31ef06cac16d5d301c5930d147002a058c85a5e4",
    repo_files=_DINO_FILES,
    **_DINO_IO,
    sha256=(("fp32", "320d1012a6fc65b101fc85ca30ee7a47b2e4f6a2e8bd78fb9d7036def0e30cb0"),),
    sizes=(("fp32", 346_627_111),),
    published_dim=768,
)

# --- meaning: SigLIP -----------------------------------------------------------------------------

SIGLIP_REPO = "Xenova/siglip-base-patch16-224"
SIGLIP_REVISION = "4649052661e53c7000355844105f8a1792088239"

SIGLIP_VISION = ModelSpec(
    role="vision",
    filename="siglip_vision.onnx",
    repo=SIGLIP_REPO,
    revision=SIGLIP_REVISION,
    repo_files=_siglip_files("vision"),
    **_SIGLIP_VISION_IO,
    preprocess=Preprocess("exact", 224, None, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    sha256=(
        ("fp32", "f89d41bac7f4d4b87e010a467d93f98689d708916ed22f5a07f96fdfa26f475f"),
        ("quantized", "ef14a954f3d57e1806666432bd9785004c1dc27100aa260eee0cb0f10a5de058"),
        ("fp16", "7287a8e9cbf4f2eedd66e8dc5cf584be03108f4e4a24331879ac6ef7ac7c878f"),
    ),
    sizes=(("fp32", 371_819_850), ("quantized", 99_499_129)),
    published_dim=768,
)

SIGLIP_TEXT = ModelSpec(
    role="text",
    filename="siglip_text.onnx",
    repo=SIGLIP_REPO,
    revision=SIGLIP_REVISION,
    repo_files=_siglip_files("text"),
    **_SIGLIP_TEXT_IO,
    sha256=(
        ("fp32", "3aa7fdbd20eaa8740cce17bf82913de641fcb632a768fed59f661cdcd0c32553"),
        ("quantized", "ad0329b1f35acc66d8953ff2559ce358da8eb0a7011794cf951523d63a4dbce2"),
        ("fp16", "ebffbfd71ae11b3f9df5233095815953f44b02ca241c317722edd8c49a9de0f6"),
    ),
    sizes=(("fp32", 441_332_132), ("quantized", 111_475_220)),
    published_dim=768,
)

SIGLIP_TOKENIZER = TokenizerSpec(
    filename="siglip_tokenizer.json",
    repo=SIGLIP_REPO,
    revision=SIGLIP_REVISION,
    sha256="4a17c975210be5ab4c36b47d8dae4eefb866dbfb1e676e394aad85dc30a3ae08",
    size=2_398_744,
)

#: exp(logit_scale) and logit_bias of siglip-base-patch16-224.
SIGLIP_ZERO_SHOT = ZeroShotSpec(logit_scale=117.330765, logit_bias=-12.932437)

#: SigLIP large at 256 px (1024-d). No public source we could check lists a commit or sha256 of
#: this export: the revision is resolved at the first fetch and every file checked against the
#: hub's sha256, then both are recorded in manifest.json. Its logit scale/bias are not published
#: in a source we could check either: the fetch reads them from the original checkpoint.
SIGLIP_LARGE_REPO = "Xenova/siglip-large-patch16-256"
SIGLIP_LARGE_VISION = ModelSpec(
    role="vision",
    filename="siglip_large_vision.onnx",
    repo=SIGLIP_LARGE_REPO,
    revision=None,
    repo_files=_siglip_files("vision"),
    **_SIGLIP_VISION_IO,
    preprocess=Preprocess("exact", 256, None, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    published_dim=1024,
)
SIGLIP_LARGE_TEXT = ModelSpec(
    role="text",
    filename="siglip_large_text.onnx",
    repo=SIGLIP_LARGE_REPO,
    revision=None,
    repo_files=_siglip_files("text"),
    **_SIGLIP_TEXT_IO,
    published_dim=1024,
)
SIGLIP_LARGE_TOKENIZER = TokenizerSpec(
    filename="siglip_large_tokenizer.json", repo=SIGLIP_LARGE_REPO, revision=None
)
SIGLIP_LARGE_ZERO_SHOT = ZeroShotSpec(
    logit_scale=None, logit_bias=None, checkpoint="google/siglip-large-patch16-256"
)

# --- the registry --------------------------------------------------------------------------------

VISUAL_MODELS: Mapping[str, VisualModel] = MappingProxyType(
    {
        "dinov2-small": VisualModel(
            "dinov2-small", DINOV2_SMALL, "DINOv2 ViT-S/14, 384-d (default)"
        ),
        "dinov2-base": VisualModel(
            "dinov2-base", DINOV2_BASE, "DINOv2 ViT-B/14, 768-d, ~4x slower"
        ),
    }
)
SEMANTIC_MODELS: Mapping[str, SemanticModel] = MappingProxyType(
    {
        "siglip-base": SemanticModel(
            "siglip-base",
            SIGLIP_VISION,
            SIGLIP_TEXT,
            SIGLIP_TOKENIZER,
            SIGLIP_ZERO_SHOT,
            "SigLIP base/16 at 224 px, 768-d (default)",
        ),
        "siglip-large": SemanticModel(
            "siglip-large",
            SIGLIP_LARGE_VISION,
            SIGLIP_LARGE_TEXT,
            SIGLIP_LARGE_TOKENIZER,
            SIGLIP_LARGE_ZERO_SHOT,
            "SigLIP large/16 at 256 px, 1024-d, ~3x slower",
        ),
    }
)
DEFAULT_VISUAL = "dinov2-small"
_M = TypeVar("_M", VisualModel, SemanticModel)
DEFAULT_SEMANTIC = "siglip-base"

#: The default models' ONNX files (kept for code that predates the registry).
MODEL_SPECS: tuple[ModelSpec, ...] = (DINOV2_SMALL, SIGLIP_VISION, SIGLIP_TEXT)


def visual_model(name: str | None = None) -> VisualModel:
    """The look model called `name` (default "dinov2-small"); ValueError naming the choices."""
    return _lookup(VISUAL_MODELS, name or DEFAULT_VISUAL, "visual")


def semantic_model(name: str | None = None) -> SemanticModel:
    """The SigLIP pair called `name` (default "siglip-base"); ValueError naming the choices."""
    return _lookup(SEMANTIC_MODELS, name or DEFAULT_SEMANTIC, "semantic")


def _lookup(table: Mapping[str, _M], name: str, role: str) -> _M:
    if name not in table:
        msg = f"unknown {role} model {name!r}; choose one of {', '.join(table)}"
        raise ValueError(msg)
    return table[name]


def resolve_models_dir(models_dir: str | os.PathLike[str] | None = None) -> Path:
    """The models folder: the argument, else $VECTORVISION_MODELS, else ./models."""
    if models_dir is not None:
        return Path(models_dir).expanduser()
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    return Path("models")


def check_variant(variant: str) -> None:
    """ValueError naming the valid variants."""
    if variant not in VARIANTS:
        msg = f"unknown model variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        raise ValueError(msg)


_check_variant = check_variant  # old private name


@dataclass(frozen=True)
class RemoteFile:
    """One file of a fetch: where it lives on the hub and what it must hash to."""

    filename: str  # name inside the models folder
    repo: str
    revision: str | None  # None: resolved at the first fetch
    path: str  # path inside the hub repo
    variant: str | None  # None for the tokenizer (the same for every variant)
    sha256: str | None = None
    size: int | None = field(default=None, compare=False)

    @property
    def url(self) -> str:
        """Direct download URL, for copying the file by hand."""
        return f"{HF_ENDPOINT}/{self.repo}/resolve/{self.revision or 'main'}/{self.path}"


def remote_files(
    variant: str = "quantized", *, visual: str | None = None, semantic: str | None = None
) -> tuple[RemoteFile, ...]:
    """The four files a models folder needs for `variant` and the chosen models, in fetch order."""
    check_variant(variant)
    look, meaning = visual_model(visual), semantic_model(semantic)
    models = tuple(
        RemoteFile(
            s.filename,
            s.repo,
            s.revision,
            s.repo_file(variant),
            variant,
            s.sha256_for(variant),
            s.size_for(variant),
        )
        for s in (look.model, meaning.vision, meaning.text)
    )
    tok = meaning.tokenizer
    tokenizer = RemoteFile(
        tok.filename, tok.repo, tok.revision, tok.repo_file, None, tok.sha256, tok.size
    )
    return (*models, tokenizer)
