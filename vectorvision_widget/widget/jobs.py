"""Background work for the widget: one job abstraction, and a small pool for browser requests.

Every long task (SOM fit, neighbour tables, thumbnail atlases, search, rescans) is a :class:`Job`
started by a :class:`JobRunner`: a newer job of the same name cancels the older one, ``progress``
entries always settle (a failed or cancelled job removes its entry; a finished one leaves its
``final`` value), and an exception reaches the widget's ``error`` instead of dying in a thread.
Browser requests (sharp thumbnails, tooltip details) are short and many: they go to a
:class:`RequestPool` of daemon threads that a file which never answers (a FIFO, a hung network
drive) cannot wedge: stalled workers are replaced, up to a bound, and reported by name.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "JobRunner", "PoolBusyError", "RequestPool", "current_job", "note"]

_local = threading.local()


def current_job() -> Job | None:
    """The job running in this thread (None outside jobs)."""
    return getattr(_local, "job", None)


class Job:
    """One background task in a daemon thread; cancel it, register cleanups, report progress."""

    def __init__(self, name: str, key: str | None, runner: JobRunner) -> None:
        self.name, self.key = name, key
        self.final: Any = None  #: progress value left after success (None removes the entry)
        self.error: BaseException | None = None
        self._runner = runner
        self._cancel = threading.Event()
        self._on_cancel: list[Callable[[], Any]] = []
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"vv-{name}", daemon=True)
        self._target: Callable[[Job], None] = lambda job: None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the job is cancelled: hand it to work that stops on an event (the SOM's
        training loop checks it between blocks), on this job's own thread."""
        return self._cancel

    def cancel(self) -> None:
        """Ask the job to stop; cleanups registered with :meth:`on_cancel` run now."""
        with self._lock:
            if self._cancel.is_set():
                return
            self._cancel.set()
            hooks, self._on_cancel = self._on_cancel, []
        for hook in hooks:
            hook()

    def on_cancel(self, hook: Callable[[], Any]) -> None:
        """Run ``hook`` when the job is cancelled (at once if it already is), e.g. to close a
        stream without polling it."""
        with self._lock:
            if not self._cancel.is_set():
                self._on_cancel.append(hook)
                return
        hook()

    def report(self, value: Any) -> None:
        """Set this job's progress entry (ignored once cancelled or replaced)."""
        self._runner._report(self, value)

    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return self.done()

    def _run(self) -> None:
        _local.job = self
        try:
            self._target(self)
        except BaseException as err:  # surfaced through the runner, never raised into the kernel
            self.error = err
        finally:
            _local.job = None
            self._runner._finished(self)


class JobRunner:
    """Starts named jobs and keeps ``progress`` honest; see the module docstring."""

    def __init__(
        self,
        set_progress: Callable[[str, Any], None],
        report_error: Callable[[str], None],
    ) -> None:
        self._set_progress = set_progress
        self._report_error = report_error
        self._lock = threading.RLock()
        self._current: dict[str, Job] = {}
        self._live: set[Job] = set()

    def start(
        self,
        name: str,
        target: Callable[[Job], None],
        *,
        progress: str | None = None,
        initial: Any = None,
    ) -> Job:
        """Run ``target(job)`` in a new thread, cancelling the running job of this ``name``.
        ``progress`` names the job's entry in the widget's progress (set to ``initial``)."""
        job = Job(name, progress, self)
        job._target = target
        with self._lock:
            self.cancel(name)
            self._current[name] = job
            self._live.add(job)
            if progress is not None and initial is not None:
                self._set_progress(progress, initial)
            job.thread.start()  # inside the lock: wait() never sees an unstarted job
        return job

    def cancel(self, name: str) -> None:
        """Cancel the job called ``name`` (if any) and clear its progress entry."""
        with self._lock:
            job = self._current.pop(name, None)
            if job is None:
                return
            if job.key is not None:
                self._set_progress(job.key, None)
        job.cancel()

    def cancel_all(self, keep: tuple[str, ...] = ()) -> None:
        """Cancel every job except the one calling (a rescan refreshes the widget from its job)
        and those named in ``keep``."""
        me = current_job()
        with self._lock:
            names = [n for n, job in self._current.items() if job is not me and n not in keep]
        for name in names:
            self.cancel(name)

    def running(self, name: str) -> bool:
        with self._lock:
            job = self._current.get(name)
        return job is not None and not job.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is alive (jobs may start others); False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [j for j in self._live if j is not current_job()]
            if not alive:
                return True
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            alive[0].join(left)

    def _report(self, job: Job, value: Any) -> None:
        with self._lock:
            if job.key is not None and not job.cancelled and self._current.get(job.name) is job:
                self._set_progress(job.key, value)

    def _finished(self, job: Job) -> None:
        with self._lock:
            mine = self._current.get(job.name) is job
            if mine:
                del self._current[job.name]
                if job.key is not None:
                    ok = job.error is None and not job.cancelled
                    self._set_progress(job.key, job.final if ok else None)
            self._live.discard(job)
        err = job.error
        if err is not None and not job.cancelled:
            self._report_error(f"{job.name}: {type(err).__name__}: {err}")


def note(label: str) -> None:
    """Say what this request worker is doing (e.g. the file it opens), for stall reports."""
    state = getattr(_local, "worker", None)
    if state is not None:
        state[1] = label


class PoolBusyError(RuntimeError):
    """The request queue is full (the browser asks again later)."""


class RequestPool:
    """Daemon worker threads for browser requests, replaced when stuck.

    A worker busy for more than ``stall_s`` seconds is *stalled*: when every worker is stalled a
    new one starts (up to ``max_threads`` in all) and ``on_error`` names what the stalled ones
    are reading. Errors raised by a task go to ``on_error`` too. The queue holds at most
    ``max_queue`` requests; beyond that :meth:`submit` raises :class:`PoolBusyError`.
    """

    def __init__(
        self,
        on_error: Callable[[str], None],
        *,
        workers: int = 2,
        max_threads: int = 8,
        stall_s: float = 5.0,
        max_queue: int = 64,
    ) -> None:
        self._on_error = on_error
        self._workers, self._max_threads, self.stall_s = workers, max_threads, stall_s
        self._queue: queue.Queue[tuple[str, Callable[[], None]] | None] = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self._busy: dict[threading.Thread, list[Any]] = {}  # thread -> [start time, label]
        self._threads: list[threading.Thread] = []
        self._reported: set[tuple[int, float]] = set()
        self._closed = False

    def submit(self, label: str, task: Callable[[], None]) -> None:
        """Queue ``task`` (``label`` names it in errors)."""
        if self._closed:
            return
        self._grow()
        try:
            self._queue.put_nowait((label, task))
        except queue.Full:
            msg = f"{label}: too many requests waiting ({self._queue.maxsize}); try again"
            raise PoolBusyError(msg) from None

    def stalled(self) -> list[str]:
        """Labels of the tasks busy for longer than ``stall_s``."""
        now = time.monotonic()
        with self._lock:
            busy = list(self._busy.values())
        return [s[1] for s in busy if s[0] is not None and now - s[0] > self.stall_s]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the workers: queued tasks are dropped, later ones ignored."""
        self._closed = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            count = len(self._threads)
        for _ in range(count):
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break

    def _grow(self) -> None:
        now = time.monotonic()
        with self._lock:
            alive = [t for t in self._threads if t.is_alive()]
            stuck = [
                (t, s)
                for t, s in self._busy.items()
                if t in alive and s[0] is not None and now - s[0] > self.stall_s
            ]
            free = len(alive) - len(stuck)
            need = free < 1 or len(alive) < self._workers
            if need and len(alive) < self._max_threads:
                t = threading.Thread(target=self._work, name="vv-requests", daemon=True)
                alive.append(t)
                t.start()
            self._threads = alive
            fresh = [s[1] for _t, s in stuck if (id(s), s[0]) not in self._reported]
            self._reported.update((id(s), s[0]) for _t, s in stuck)
        if fresh:
            self._on_error(
                f"still reading after {self.stall_s:.0f} s (a FIFO or an unresponsive drive?): "
                + ", ".join(fresh[:3])
            )

    def _work(self) -> None:
        me = threading.current_thread()
        state: list[Any] = [None, ""]
        _local.worker = state
        with self._lock:
            self._busy[me] = state
        while True:
            item = self._queue.get()
            if item is None or self._closed:
                break
            label, task = item
            state[0], state[1] = time.monotonic(), label
            try:
                task()
            except Exception as err:  # reported to the widget, never lost in the thread
                self._on_error(f"{label}: {type(err).__name__}: {err}")
            finally:
                state[0] = None
        with self._lock:
            self._busy.pop(me, None)
