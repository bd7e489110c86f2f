"""`vv.scan`: one entry point for both engines of the one scan procedure.

It picks the engine (`LocalEngine`: threads on this machine; `RayEngine`: Ray Data, imported
only when asked for, so Ray stays optional) and runs `procedure.run_scan` with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.scanning.local import LocalEngine
from vectorvision_widget.scanning.procedure import (
    Engine,
    ProgressCallback,
    ScanReport,
    ThumbSink,
    run_scan,
)

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

ENGINES = ("local", "ray")


def make_engine(engine: str, *, ray_address: str | None, workers: int | None) -> Engine:
    """The engine called `engine` ("local" or "ray"); ValueError for anything else."""
    if engine not in ENGINES:
        msg = f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}"
        raise ValueError(msg)
    if engine == "local":
        if ray_address is not None:
            msg = "ray_address is only used with engine='ray'"
            raise ValueError(msg)
        return LocalEngine(workers)
    from vectorvision_widget.scanning.ray import RayEngine  # optional dependency

    return RayEngine(ray_address, workers=workers)


def scan(
    folder: str | os.PathLike[str],
    lib: Library,
    encoders: Encoders | None = None,
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
    thumbs: ThumbSink | bool | None = None,
) -> ScanReport:
    """Scan `folder` (recursively) into `lib`, incrementally: only new and changed files are
    embedded, records of files really gone are removed; a missing or unreadable folder is
    offline (its records kept, reported in `report.failed`), never deleted.

    `engine="local"` (default): threaded decode overlapped with batched inference on this machine.
    `engine="ray"`: Ray Data (`pip install "vectorvision-widget[ray]"`); connects to
    `ray_address`, else `$RAY_ADDRESS`, else starts a local Ray. Both give the same answer.

    `encoders`: an `Encoders` (default: `Encoders.load()`); `force=True` re-analyses everything
    (and accepts a library of other model files); `keywords`: a label list or a `KeywordTagger`
    (default: the bundled vocabulary); `on_progress(done, total, path)` is called after each
    examined file, failures included (the widget's progress bar); `workers`: decode threads
    (local, default min(4, CPUs)) or decode tasks (Ray); `batch_size`: images per inference call
    (default the encoders'); `trace=True` records decode/inference intervals in `report.trace`;
    `thumbs`: where scan-time thumbnails go (default: beside `lib.path`; False: none).

    Returns a `ScanReport`; `report.timings` holds `walk_s`, `decode_s` (worker time, summed),
    `decode_wait_s` (time inference waited for decoded images), `inference_s`, `keywords_s`,
    `total_s` and `images_per_s`. KeyboardInterrupt does not propagate: the report comes back
    with `interrupted=True` and every image embedded so far stays in `lib`.
    Raises NotADirectoryError for a folder that is missing and unknown to `lib`, and
    `ModelMismatchError` when `lib` holds vectors of other model files (unless `force`).
    """
    if batch_size is not None and batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    chosen = make_engine(engine, ray_address=ray_address, workers=workers)
    return run_scan(
        folder,
        lib,
        chosen,
        encoders=encoders,
        force=force,
        keywords=keywords,
        progress=progress,
        on_progress=on_progress,
        batch_size=batch_size,
        trace=trace,
        thumbs=thumbs,
    )
