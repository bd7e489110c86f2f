"""Which model files made a library's vectors: comparison, messages, and the errors raised
when vectors from different models would meet (they are never mixed in one matrix)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vectorvision_widget.errors import VectorVisionError

__all__ = ["ModelMismatchError", "VisualFeaturesMissingWarning", "model_text", "same_model"]


class VisualFeaturesMissingWarning(UserWarning):
    """Some images have no DINOv2 vector (old library); `features` are used instead."""


class ModelMismatchError(VectorVisionError, ValueError):
    """Vectors from a different model would be mixed into the library's matrices."""


def same_model(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two provenance entries name the same model file (sha256 wins, then name, then dim)."""
    for key in ("sha256", "name", "dim"):
        if a.get(key) is not None and b.get(key) is not None:
            return bool(a[key] == b[key])
    return True


def model_text(info: Mapping[str, Any]) -> str:
    """'siglip (768-d, sha256 0123456789ab…)' for messages."""
    parts = [f"{info['dim']}-d"] if info.get("dim") else []
    if info.get("sha256"):
        parts.append(f"sha256 {str(info['sha256'])[:12]}…")
    name = info.get("name") or "an unknown model"
    return f"{name} ({', '.join(parts)})" if parts else name
