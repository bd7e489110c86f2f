"""onnxruntime plumbing for the encoders: which execution providers, and how sessions are made.

Why its own module: the encoders decide *what* to run; this decides *where*. CUDA is used when the
installed onnxruntime offers it (`pip install onnxruntime-gpu`), CPU otherwise, and the session's
real providers are reported back (`Encoders.providers`), so a silent CPU fallback is visible.
On CUDA the fp16 exports are the fast choice (`recommended_variant`); on CPU the int8 ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vectorvision_widget.errors import ModelError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_ALIASES = {"cuda": CUDA, "gpu": CUDA, "cpu": CPU}
REFETCH_HINT = "re-download it with `vectorvision fetch-models --force`"

#: CUDA provider options: grow the memory arena only as needed (several sessions share one GPU)
#: and pick convolution algorithms once per shape (the patch embedding is one conv).
CUDA_OPTIONS: dict[str, str] = {
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_algo_search": "HEURISTIC",
}


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads do not speed up matmuls)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    return max(1, min(physical or logical or 1, logical or 1))


def cuda_available() -> bool:
    """Whether this onnxruntime build offers CUDA (onnxruntime-gpu); says nothing about a GPU."""
    import onnxruntime as ort

    return CUDA in ort.get_available_providers()


def recommended_variant(providers: Sequence[str] | None = None) -> str:
    """ "fp16" when CUDA runs the models (tensor cores), else "quantized" (int8 on CPU)."""
    chosen = providers if providers is not None else choose_providers()
    return "fp16" if chosen and chosen[0] == CUDA else "quantized"


def choose_providers(requested: Sequence[str] | str | None = None) -> list[str]:
    """CUDA then CPU when available; a requested provider that this onnxruntime build lacks is
    dropped with a warning (CPU is always the last resort); an unknown name is a ValueError."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested is None:
        chosen = [p for p in (CUDA, CPU) if p in available]
        return chosen or [CPU]
    if isinstance(requested, str):
        requested = [requested]
    known = set(ort.get_all_providers()) | set(available)
    chosen = []
    for name in requested:
        full = _ALIASES.get(name.lower(), name)
        if full not in known:
            msg = (
                f"unknown onnxruntime provider {name!r}; this installation offers "
                f"{', '.join(available)} (plus aliases 'cuda', 'cpu')"
            )
            raise ValueError(msg)
        if full not in available:
            hint = " (GPU: pip uninstall onnxruntime && pip install onnxruntime-gpu)" * (
                full == CUDA
            )
            warnings.warn(
                f"{full} is not available in this onnxruntime build (available: "
                f"{', '.join(available)}); falling back to {CPU}{hint}",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if full not in chosen:
            chosen.append(full)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def create_session(
    path: Path, providers: Sequence[str], threads: int, model: bytes | None = None
) -> Any:
    """An InferenceSession for `path` on `providers` (from `model`, the file's bytes already
    read and checked, when given); ModelError naming the file on failure."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle = no CPU
    opts.log_severity_level = 3
    if CUDA in providers:
        _preload_cuda_libraries(ort)
    with_options = [(p, dict(CUDA_OPTIONS)) if p == CUDA else p for p in providers]
    try:
        source = model if model is not None else str(path)
        return ort.InferenceSession(source, sess_options=opts, providers=with_options)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        msg = f"{path} could not be loaded by onnxruntime ({exc}); {REFETCH_HINT}"
        raise ModelError(msg) from exc


_preloaded: list[bool] = []


def _preload_cuda_libraries(ort: Any) -> None:
    """Load CUDA/cuDNN from the nvidia-* pip wheels when onnxruntime-gpu can (>= 1.21), so
    `pip install onnxruntime-gpu[cuda,cudnn]` works without a system CUDA toolkit. Once."""
    if _preloaded:
        return
    _preloaded.append(True)
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:
            return
