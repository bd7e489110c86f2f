"""Helpers shared by the benchmark scripts (imported as a sibling module)."""

from __future__ import annotations


def blas_kernel() -> str:
    """The BLAS numpy runs on (library, version, kernel, threads). Every benchmark prints it:
    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE can halve float32 matmul, so a table must say which
    kernel produced it."""
    try:
        import numpy  # noqa: F401  (loads the BLAS to report)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    parts = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
        f" ×{i.get('num_threads')}"
        for i in info
    ]
    return ", ".join(parts) or "no BLAS loaded"
