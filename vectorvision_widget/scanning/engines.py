"""`vv.scan`: one entry point for every scan engine (local threads, or Ray Data).

Why a module of its own: the Ray engine (`distributed.py`) builds on `analyzer` (same plan, same
per-file preparation, same apply step), so `analyzer` must not import it; this dispatcher sits
above both and imports `distributed` only when `engine="ray"` is asked for (Ray stays optional).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vectorvision_widget.library.store import Library
from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.local import ProgressCallback, ScanReport
from vectorvision_widget.scanning.local import scan as scan_local

ENGINES = ("local", "ray")


def scan(
    folder: str | os.PathLike[str],
    lib: Library,
    encoders: Any = None,
    force: bool = False,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    keywords: Sequence[str] | KeywordTagger | None = None,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    trace: bool = False,
    thumbs: Any = None,
) -> ScanReport:
    """Scan `folder` into `lib` (incremental; see `analyzer`) with the chosen engine.

    `engine="local"` (default): threaded decode overlapped with batched inference on this machine.
    `engine="ray"`: Ray Data (`pip install "vectorvision-widget[ray]"`); connects to
    `ray_address`, else `$RAY_ADDRESS`, else starts a local Ray. Both give the same answer.
    Other keywords as in `analyzer.scan`.
    """
    if engine not in ENGINES:
        msg = f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}"
        raise ValueError(msg)
    if batch_size is not None and batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    common: dict[str, Any] = {
        "keywords": keywords,
        "progress": progress,
        "on_progress": on_progress,
        "workers": workers,
        "batch_size": batch_size,
        "trace": trace,
        "thumbs": thumbs,
    }
    if engine == "local":
        if ray_address is not None:
            msg = "ray_address is only used with engine='ray'"
            raise ValueError(msg)
        return scan_local(folder, lib, encoders, force, **common)
    from vectorvision_widget.scanning.ray import (
        scan_ray,  # optional dependency: imported only when asked for
    )

    return scan_ray(folder, lib, encoders=encoders, force=force, address=ray_address, **common)
