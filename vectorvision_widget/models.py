"""Model specs (what each ONNX file is and how to feed it), locating `models/`, and the fetch.

Everything the encoders need to know about a model lives here as frozen data, so the rest of the
code never hard-codes a file name, a tensor name or a preprocessing constant. Revisions and sha256
values are pinned (values published by several independent projects fetching these exact files;
siglip fp16 by one); the fetch refuses any file that hashes differently. A spec without a sha256
is checked against the hub's own (an LFS file's etag is its sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ModelError

ENV_MODELS_DIR = "VECTORVISION_MODELS"
VARIANTS = ("quantized", "fp32", "fp16")
HF_ENDPOINT = "https://huggingface.co"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


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
    repo_files: Mapping[str, str]  # variant -> path inside the hub repo (read-only)
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    embedding_output: str  # output whose (pooled) rows are the embedding
    cls_token: bool  # take token 0 of a [B, T, D] output instead of a [B, D] output
    preprocess: Preprocess | None = None
    sha256: tuple[tuple[str, str], ...] = ()  # (variant, sha256) pairs where known
    sizes: tuple[tuple[str, int], ...] = ()  # (variant, bytes) pairs where known
    published_dim: int | None = None  # of the published weights; informational, never enforced

    def __post_init__(self) -> None:
        # Frozen means frozen: a dict field could still be mutated in place.
        object.__setattr__(self, "repo_files", MappingProxyType(dict(self.repo_files)))
        missing = [v for v in VARIANTS if v not in self.repo_files]
        unknown = [v for v, _ in (*self.sha256, *self.sizes) if v not in self.repo_files]
        bad_sha = [s for _, s in self.sha256 if not _SHA256_RE.match(s)]
        if missing or unknown or bad_sha:
            msg = f"spec {self.filename}: missing {missing}, unknown {unknown}, bad sha {bad_sha}"
            raise ValueError(msg)

    def repo_file(self, variant: str) -> str:
        """Path inside the hub repo of `variant` (ValueError naming the valid ones)."""
        _check_variant(variant)
        return self.repo_files[variant]

    def sha256_for(self, variant: str) -> str | None:
        """Pinned sha256 of `variant`, or None where we could not pin one."""
        return dict(self.sha256).get(variant)

    def size_for(self, variant: str) -> int | None:
        """Size in bytes of `variant`, or None where unknown."""
        return dict(self.sizes).get(variant)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DINOV2_SMALL = ModelSpec(
    role="visual",
    filename="dinov2_small.onnx",
    repo="Xenova/dinov2-small",
    revision="c2bb04a51fab207c420665f1946016107bffc701",
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
    sha256=(
        ("fp32", "83141175ec78b4ff9a2bb58a4c7c264ba0054d1c2e122e5a8114b79a8d4179ea"),
        ("quantized", "3afdc8bc63b50558d6e5770f5b799bb82455c2311183a2de43803f343a29d917"),
        ("fp16", "4e9ea6fe106e2225e28ee3c1c3d53b5b92aa4af62142f6ed6b66b6a92213cf04"),
    ),
    sizes=(("fp32", 88_459_888), ("quantized", 24_451_943), ("fp16", 44_427_534)),
    published_dim=384,
)

SIGLIP_REPO = "Xenova/siglip-base-patch16-224"
SIGLIP_REVISION = "4649052661e53c7000355844105f8a1792088239"

SIGLIP_VISION = ModelSpec(
    role="vision",
    filename="siglip_vision.onnx",
    repo=SIGLIP_REPO,
    revision=SIGLIP_REVISION,
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
    repo_files={
        "fp32": "onnx/text_model.onnx",
        "quantized": "onnx/text_model_quantized.onnx",
        "fp16": "onnx/text_model_fp16.onnx",
    },
    inputs=(TensorSpec("input_ids", "tensor(int64)", 2),),
    outputs=(TensorSpec("pooler_output", "tensor(float)", 2),),
    embedding_output="pooler_output",
    cls_token=False,
    sha256=(
        ("fp32", "3aa7fdbd20eaa8740cce17bf82913de641fcb632a768fed59f661cdcd0c32553"),
        ("quantized", "ad0329b1f35acc66d8953ff2559ce358da8eb0a7011794cf951523d63a4dbce2"),
        ("fp16", "ebffbfd71ae11b3f9df5233095815953f44b02ca241c317722edd8c49a9de0f6"),
    ),
    sizes=(("fp32", 441_332_132), ("quantized", 111_475_220)),
    published_dim=768,
)


@dataclass(frozen=True)
class TokenizerSpec:
    """SigLIP's tokenizer: fixed length, padded with `pad_id`, no attention mask."""

    filename: str = "siglip_tokenizer.json"
    repo: str = SIGLIP_REPO
    revision: str = SIGLIP_REVISION
    repo_file: str = "tokenizer.json"
    max_length: int = 64
    pad_id: int = 1
    sha256: str | None = "4a17c975210be5ab4c36b47d8dae4eefb866dbfb1e676e394aad85dc30a3ae08"
    size: int | None = 2_398_744


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
MANIFEST_FORMAT = "vectorvision-models"


def resolve_models_dir(models_dir: str | os.PathLike[str] | None = None) -> Path:
    """The models folder: the argument, else $VECTORVISION_MODELS, else ./models."""
    if models_dir is not None:
        return Path(models_dir).expanduser()
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    return Path("models")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        msg = f"unknown model variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        raise ValueError(msg)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a fetch: where it lives on the hub and what it must hash to."""

    filename: str  # name inside the models folder
    repo: str
    revision: str
    path: str  # path inside the hub repo
    variant: str | None  # None for the tokenizer (the same for every variant)
    sha256: str | None = None
    size: int | None = field(default=None, compare=False)

    @property
    def url(self) -> str:
        """Direct download URL, for copying the file by hand."""
        return f"{HF_ENDPOINT}/{self.repo}/resolve/{self.revision}/{self.path}"


def remote_files(variant: str = "quantized") -> tuple[RemoteFile, ...]:
    """The four files a models folder needs for `variant`, in fetch order."""
    _check_variant(variant)
    models = tuple(
        RemoteFile(s.filename, s.repo, s.revision, s.repo_file(variant), variant,
                   s.sha256_for(variant), s.size_for(variant))
        for s in MODEL_SPECS
    )  # fmt: skip
    tok = SIGLIP_TOKENIZER
    tokenizer = RemoteFile(
        tok.filename, tok.repo, tok.revision, tok.repo_file, None, tok.sha256, tok.size
    )
    return (*models, tokenizer)


# --- hashing and the manifest (also used by the encoders for provenance) -----------------------

_CHUNK = 1 << 20
_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, read in 1 MiB chunks so a 400 MB model never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_sha256(path: Path) -> str:
    """file_sha256, remembered per (path, size, mtime) so reloading encoders stays cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        _sha_cache[key] = file_sha256(path)
    return _sha_cache[key]


def read_manifest(models_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The folder's manifest.json as `{"format", "version", "files": {filename: entry}}`.

    None when there is no manifest (hand-copied models are fine). Each entry has repo, revision,
    path, variant, sha256, size. Raises ModelError naming the file when it cannot be used.
    """
    path = resolve_models_dir(models_dir) / MANIFEST_FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = (
            f"{path} is not readable JSON ({exc}); delete it or re-run `vectorvision fetch-models`"
        )
        raise ModelError(msg) from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        msg = f"{path} has no 'files' table; delete it or re-run `vectorvision fetch-models`"
        raise ModelError(msg)
    return data


def verify_against_manifest(models_dir: str | os.PathLike[str] | None, filename: str) -> str:
    """sha256 of `filename` in the models folder, checked against the manifest where it has one.

    Without a manifest (or an entry for the file) the hash is only computed, for provenance.
    """
    folder = resolve_models_dir(models_dir)
    path = folder / filename
    if not path.is_file():
        msg = f"{path} is missing; run `vectorvision fetch-models` or copy the file into {folder}"
        raise ModelError(msg)
    got = _cached_sha256(path)
    manifest = read_manifest(folder)
    entry = (manifest or {"files": {}})["files"].get(filename)
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if expected and expected != got:
        msg = (
            f"{path}: sha256 mismatch: manifest says {expected}, file has {got}; "
            "re-run `vectorvision fetch-models` (or delete manifest.json if you replaced the file "
            "on purpose)"
        )
        raise ModelError(msg)
    return got


def fetch_models(
    variant: str = "quantized",
    models_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download the models; implemented in `fetch.py`, the only module that downloads."""
    from .fetch import fetch_models as _fetch_models

    return _fetch_models(variant, models_dir, force=force, progress=progress)
