"""Zero-shot keywords: SigLIP's sigmoid head over a label vocabulary.

Why a sigmoid and a relative rule: SigLIP scores every label independently,
`p = sigmoid(scale * cos(image, "This is a photo of {label}.") + bias)`, and for the base model
even correct labels get small absolute probabilities (typically 1e-3 to 0.3) while unrelated ones
sit near 1e-6. A fixed absolute cut-off would tag some libraries with nothing and others with
everything, so a label is kept when it is among the `top` best for the image, its probability is
at least `min_score`, and at least `relative` times the best label's probability. The best label is
always kept, so every image gets at least one keyword.

How the defaults were chosen (top=5, min_score=1e-3, relative=0.1): 1e-3 is the bottom of the
range where SigLIP base puts true matches, so anything below it is noise whatever the image;
relative=0.1 keeps labels within a factor 10 of the best (one unit of logit is a factor ~e, so
this is ~2.3 logits, i.e. a cosine within 0.02 of the best at scale 117), which keeps synonyms and
co-occurring subjects ("a beach", "the sea") and drops the long tail; five is as many as a person
reads at a glance in the widget.

The scale and bias come from the semantic model's spec (`Encoders.meaning.zero_shot`). A model
whose calibration no checked source publishes (`ZeroShotSpec.calibrated` False) is ranked by
cosine instead: its scores are cosines, and a label is kept when it is among the `top` best and
within `COSINE_MARGIN` (0.02, the margin the rule above amounts to for siglip-base) of the best.

The label embeddings cost one text-model run per label; they are computed once per (text model
sha256, vocabulary) and cached in memory and, when a cache folder is writable, on disk as `.npy`
(loaded with `allow_pickle=False`).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.models.specs import SIGLIP_ZERO_SHOT, ZeroShotSpec

if TYPE_CHECKING:
    from vectorvision_widget.models.encoders import Encoders

DEFAULT_TOP = 5
DEFAULT_MIN_SCORE = 1e-3
DEFAULT_RELATIVE = 0.1
COSINE_MARGIN = 0.02
ENV_CACHE_DIR = "VECTORVISION_CACHE"

_MEMORY_CACHE: dict[str, np.ndarray] = {}


def default_vocabulary() -> list[str]:
    """The bundled label list (photography, design and everyday scenes), in file order."""
    text = resources.files("vectorvision_widget").joinpath("data/vocabulary.txt").read_text("utf-8")
    labels = [line.strip() for line in text.splitlines()]
    return list(dict.fromkeys(lab for lab in labels if lab and not lab.startswith("#")))


def _cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vectorvision"


def _cosines(features: np.ndarray, label_embeddings: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.asarray(features, np.float64) @ np.asarray(label_embeddings, np.float64).T
    return out


def zero_shot_logits(
    features: np.ndarray, label_embeddings: np.ndarray, zero_shot: ZeroShotSpec = SIGLIP_ZERO_SHOT
) -> np.ndarray:
    """(N, D) image features × (L, D) label embeddings -> (N, L) SigLIP logits (float64).

    Ranking is done on logits: float32 probabilities saturate at 1.0 and would tie."""
    if not zero_shot.calibrated:
        msg = "this model has no published logit scale/bias; rank by cosine instead"
        raise ValueError(msg)
    cos = _cosines(features, label_embeddings)
    scale, bias = float(zero_shot.logit_scale or 0.0), float(zero_shot.logit_bias or 0.0)
    return scale * cos + bias


def sigmoid_scores(
    features: np.ndarray, label_embeddings: np.ndarray, zero_shot: ZeroShotSpec = SIGLIP_ZERO_SHOT
) -> np.ndarray:
    """(N, D) image features × (L, D) label embeddings -> (N, L) SigLIP probabilities."""
    return _sigmoid(zero_shot_logits(features, label_embeddings, zero_shot)).astype(np.float32)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # no overflow warnings for large |logits|


class KeywordTagger:
    """Tags SigLIP image features with labels from a vocabulary (default: the bundled one)."""

    def __init__(
        self,
        encoders: Encoders,
        labels: Sequence[str] | None = None,
        *,
        top: int = DEFAULT_TOP,
        min_score: float = DEFAULT_MIN_SCORE,
        relative: float = DEFAULT_RELATIVE,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.labels = list(dict.fromkeys(labels)) if labels is not None else default_vocabulary()
        if not self.labels:
            msg = "KeywordTagger needs at least one label"
            raise ValueError(msg)
        if top < 1:
            msg = f"top must be >= 1, got {top}"
            raise ValueError(msg)
        self.top, self.min_score, self.relative = top, min_score, relative
        self._encoders = encoders
        self._cache_dir = Path(cache_dir) if cache_dir is not None else _cache_dir()
        self._embeddings: np.ndarray | None = None
        self.zero_shot: ZeroShotSpec = encoders.meaning.zero_shot

    @property
    def cache_key(self) -> str:
        """Text model sha256 + prompt + vocabulary: label vectors are valid for exactly this."""
        text_sha = self._encoders.model_sha256(self._encoders.meaning.text.filename)
        digest = hashlib.sha256()
        for part in (text_sha, self.zero_shot.prompt, *self.labels):
            digest.update(part.encode("utf-8") + b"\0")
        return digest.hexdigest()[:32]

    @property
    def embeddings(self) -> np.ndarray:
        """(L, D) unit label embeddings, computed once and cached."""
        if self._embeddings is None:
            self._embeddings = self._load_or_compute()
        return self._embeddings

    def _load_or_compute(self) -> np.ndarray:
        key = self.cache_key
        if key in _MEMORY_CACHE:
            return _MEMORY_CACHE[key]
        path = self._cache_dir / f"labels-{key}.npy"
        emb: np.ndarray | None = None
        try:
            loaded = np.load(path, allow_pickle=False)
            if loaded.shape[0] == len(self.labels) and np.isfinite(loaded).all():
                emb = loaded.astype(np.float32, copy=False)
        except (OSError, ValueError):
            emb = None  # absent or unreadable cache: recompute
        if emb is None:
            prompts = [self.zero_shot.prompt.format(label=lab) for lab in self.labels]
            emb = self._encoders.embed_texts(prompts)
            self._save(path, emb)
        _MEMORY_CACHE[key] = emb
        return emb

    @staticmethod
    def _save(path: Path, emb: np.ndarray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.save(buf, emb, allow_pickle=False)
            atomic_write_bytes(path, buf.getbuffer())
        except OSError:
            pass  # a read-only home only costs recomputation next time

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, D) SigLIP image features -> (N, L) probabilities (cosines when uncalibrated)."""
        feats = np.asarray(features, np.float32)
        if not self.zero_shot.calibrated:
            return _cosines(feats, self.embeddings).astype(np.float32)
        return sigmoid_scores(feats, self.embeddings, self.zero_shot)

    def tag(self, features: np.ndarray) -> list[list[dict[str, Any]]]:
        """Keywords per image: [{label, score}] best first, at least one each."""
        calibrated = self.zero_shot.calibrated
        if calibrated:
            logits = zero_shot_logits(np.atleast_2d(features), self.embeddings, self.zero_shot)
            probs = _sigmoid(logits)
        else:
            logits = probs = _cosines(np.atleast_2d(features), self.embeddings)
        top = min(self.top, logits.shape[1])
        order = np.argsort(-logits, axis=1, kind="stable")[:, :top]
        result: list[list[dict[str, Any]]] = []
        for row, idx in zip(probs, order, strict=True):
            best = float(row[idx[0]])
            floor = best - COSINE_MARGIN
            if calibrated:
                floor = max(self.min_score, self.relative * best)
            kept = [i for i in idx if row[i] >= floor] or [idx[0]]
            result.append(
                [{"label": self.labels[i], "score": round(float(row[i]), 6)} for i in kept]
            )
        return result
