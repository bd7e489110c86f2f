"""The one decode→infer pipeline: threaded preparation overlapped with batched inference.

Why: on a CPU the two vision models are the bottleneck and decoding a camera JPEG is ~20 % of the
per-image cost, so files are read, decoded and preprocessed in a small thread pool (Pillow and
numpy release the GIL) while the calling thread runs batched inference (onnxruntime releases it
too). At most `in_flight` items are prepared ahead (default `2 * workers + batch_size`), so memory
stays bounded whatever the number of files. Results are consumed in input order, which keeps
scans deterministic. Used by the local scan engine (`scanning.local`) and `Encoders.embed_images`.

Interrupts: a KeyboardInterrupt (or any exception) raised by a callback or by `prepare` stops the
pipeline; queued work is cancelled and the decode threads are joined before it propagates.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Niceness added to the decode threads (Linux). On a CPU-only machine the onnxruntime threads
#: split every operator evenly across the cores; a decode thread holding one core makes the whole
#: operator wait for that straggler. Lower-priority decoders run in the gaps instead.
DECODE_NICENESS = 10
THREAD_PREFIX = "vv-decode"


def lower_priority() -> None:
    """Thread initializer: lower this decode thread's priority (per-thread on Linux only)."""
    if DECODE_NICENESS and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


def default_workers() -> int:
    """Decode threads: min(4, CPUs)."""
    return max(1, min(4, os.cpu_count() or 1))


class Pipeline(Generic[T, R]):
    """Prepare items in threads, hand ready results to `infer` in batches, in input order.

    - `prepare(item) -> result` runs in the pool (must be thread-safe);
    - `ready(result)`: does this result go into a batch (False: e.g. a per-file failure);
    - `infer(batch)` runs on the calling thread with up to `batch_size` ready results;
    - `on_item(item, result)` runs on the calling thread after each item (progress, failures).

    `timings` accumulates `decode_wait_s` (time the caller waited for a prepared item) and
    `inference_s`; `trace` (a list) receives ("inference", t0, t1) intervals.
    """

    def __init__(
        self,
        prepare: Callable[[T], R],
        infer: Callable[[list[R]], None],
        *,
        batch_size: int,
        workers: int | None = None,
        in_flight: int | None = None,
        ready: Callable[[R], bool] | None = None,
        on_item: Callable[[T, R], None] | None = None,
        nice: bool = True,
    ) -> None:
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ValueError(msg)
        self.prepare = prepare
        self.infer = infer
        self.batch_size = batch_size
        self.workers = workers or default_workers()
        self.in_flight = max(1, in_flight or 2 * self.workers + batch_size)
        self.ready = ready
        self.on_item = on_item
        self.nice = nice
        self.timings: dict[str, float] = {"decode_wait_s": 0.0, "inference_s": 0.0}
        self.trace: list[tuple[str, float, float]] | None = None

    def _flush(self, batch: list[R]) -> None:
        if not batch:
            return
        t0 = time.perf_counter()
        self.infer(list(batch))
        t1 = time.perf_counter()
        batch.clear()
        self.timings["inference_s"] += t1 - t0
        if self.trace is not None:
            self.trace.append(("inference", t0, t1))

    def run(self, items: Iterable[T]) -> None:
        """Process every item; returns when the last batch has been inferred."""
        pending: deque[tuple[T, Future[R]]] = deque()
        batch: list[R] = []
        pool = ThreadPoolExecutor(
            max_workers=self.workers,
            thread_name_prefix=THREAD_PREFIX,
            initializer=lower_priority if self.nice else None,
        )
        queue = iter(items)

        def submit() -> bool:
            item = next(queue, _End.END)
            if item is _End.END:
                return False
            pending.append((item, pool.submit(self.prepare, item)))
            return True

        try:
            while len(pending) < self.in_flight and submit():
                pass
            while pending:
                item, future = pending.popleft()
                t0 = time.perf_counter()
                result = future.result()
                self.timings["decode_wait_s"] += time.perf_counter() - t0
                submit()
                if self.ready is None or self.ready(result):
                    batch.append(result)
                    if len(batch) >= self.batch_size:
                        self._flush(batch)
                if self.on_item is not None:
                    self.on_item(item, result)
            self._flush(batch)
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


class _End(enum.Enum):
    """The end of the items (a sentinel the types can tell from any item)."""

    END = enum.auto()


def run_pipeline(
    items: Iterable[T],
    prepare: Callable[[T], R],
    infer: Callable[[list[R]], None],
    *,
    batch_size: int,
    workers: int | None = None,
    in_flight: int | None = None,
    ready: Callable[[R], bool] | None = None,
    on_item: Callable[[T, R], None] | None = None,
    trace: list[tuple[str, float, float]] | None = None,
    nice: bool = True,
) -> dict[str, float]:
    """Run a `Pipeline` over `items`; returns its timings (decode_wait_s, inference_s)."""
    pipe: Pipeline[T, R] = Pipeline(
        prepare,
        infer,
        batch_size=batch_size,
        workers=workers,
        in_flight=in_flight,
        ready=ready,
        on_item=on_item,
        nice=nice,
    )
    pipe.trace = trace
    pipe.run(items)
    return dict(pipe.timings)
