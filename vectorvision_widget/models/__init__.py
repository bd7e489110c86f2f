"""Models: what the ONNX files are, where they come from, and how they run.

Owns the frozen specs (`specs`: files, revisions, sha256, dims, preprocessing, zero-shot
calibration), `manifest` (manifest.json and hashing), `fetch` (the only network code),
`onnx_header` (graph I/O without loading weights), `runtime` (onnxruntime providers and
sessions), `pipeline` (decode overlapped with batched inference), `encoders` (`Encoders`) and
`keywords` (zero-shot tags over the vocabulary).

May import: `images`, `errors`, `vectors`, `atomicfile`. Knows nothing about libraries or the
widget. The model specs also read from here (`vectorvision_widget.models.DINOV2_SMALL`), as they did
when `models` was one module.
"""

from typing import Any

from vectorvision_widget.models import specs as _specs


def __getattr__(name: str) -> Any:
    """`models.X` for a spec name `X` of `models.specs`."""
    try:
        return getattr(_specs, name)
    except AttributeError:
        msg = f"module 'vectorvision_widget.models' has no attribute {name!r}"
        raise AttributeError(msg) from None
