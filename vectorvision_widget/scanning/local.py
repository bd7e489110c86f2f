"""The local engine: threaded decode overlapped with batched inference on this machine.

It only turns planned files into results (`procedure.Engine`): each file is read, hashed,
decoded and preprocessed by `files.prepare_file` in the decode threads of `models.pipeline`,
while the calling thread embeds ready files in batches and hands them to the procedure's
`Results` in file order. Everything else (planning, applying, failures, progress, thumbnails,
Ctrl-C) is `procedure.run_scan`'s.
"""

from __future__ import annotations

import numpy as np

from vectorvision_widget.models.pipeline import Pipeline, default_workers
from vectorvision_widget.scanning.files import Failure, Prepared, prepare_file
from vectorvision_widget.scanning.procedure import Embedded, Results, Work

__all__ = ["LocalEngine"]


class LocalEngine:
    """`workers` decode threads (default min(4, CPUs)) feeding batched inference."""

    label = "scanning"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()

    def run(self, work: Work, results: Results) -> None:
        encoders, found, timings = work.encoders, work.plan.found, results.timings

        def prepare(path: str) -> Prepared | Failure:
            return prepare_file(
                path,
                found[path],
                encoders,
                max_pixels=encoders.max_pixels,  # the bomb guard
                thumbs=work.thumbs,
                trace=work.trace,
            )

        def infer(batch: list[Prepared | Failure]) -> None:
            ready = [p for p in batch if isinstance(p, Prepared)]
            feats, visual = encoders.encode_pixels(
                np.stack([p.siglip for p in ready]), np.stack([p.dino for p in ready])
            )
            results.embedded(
                [Embedded(p, f, v) for p, f, v in zip(ready, feats, visual, strict=True)]
            )

        def on_item(path: str, result: Prepared | Failure) -> None:
            del path
            if isinstance(result, Failure):
                results.failed(result)
            else:
                timings["decode_s"] += result.seconds
            results.examined(result.path)

        pipe: Pipeline[str, Prepared | Failure] = Pipeline(
            prepare,
            infer,
            batch_size=work.batch_size,
            workers=self.workers,
            ready=lambda r: isinstance(r, Prepared),
            on_item=on_item,
        )
        pipe.trace = work.trace
        keywords_before = timings["keywords_s"]
        try:
            pipe.run(work.files)
        finally:
            timings["decode_wait_s"] += pipe.timings["decode_wait_s"]
            tagging = timings["keywords_s"] - keywords_before  # inside infer, not inference
            timings["inference_s"] += pipe.timings["inference_s"] - tagging
