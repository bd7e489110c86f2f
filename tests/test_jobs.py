"""jobs.py: the widget's one background-job abstraction and its request pool.

Progress must always settle (a failed or cancelled job removes its entry), errors must reach the
error callback, and a stuck request must not stop the next ones from being answered.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from vectorvision_widget.widget.jobs import Job, JobRunner, PoolBusyError, RequestPool, note


class Recorder:
    def __init__(self) -> None:
        self.progress: dict[str, Any] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def set_progress(self, key: str, value: Any) -> None:
        with self.lock:
            if value is None:
                self.progress.pop(key, None)
            else:
                self.progress[key] = value

    def error(self, text: str) -> None:
        self.errors.append(text)


def _runner() -> tuple[JobRunner, Recorder]:
    rec = Recorder()
    return JobRunner(rec.set_progress, rec.error), rec


def test_a_failed_job_reports_its_error_and_clears_its_progress() -> None:
    runner, rec = _runner()

    def boom(job: Job) -> None:
        job.report([1, 3])
        raise ValueError("bad weight nan")

    runner.start("table", boom, progress="table", initial="computing")
    assert runner.wait(5)
    assert rec.progress == {}
    assert rec.errors == ["table: ValueError: bad weight nan"]


def test_a_finished_job_leaves_its_final_value() -> None:
    runner, rec = _runner()

    def ok(job: Job) -> None:
        job.final = "ready"

    runner.start("table", ok, progress="table", initial="computing")
    assert runner.wait(5)
    assert rec.progress == {"table": "ready"} and rec.errors == []


def test_cancel_clears_progress_runs_hooks_and_ignores_late_reports() -> None:
    runner, rec = _runner()
    release = threading.Event()
    hooks: list[str] = []

    def slow(job: Job) -> None:
        job.on_cancel(lambda: hooks.append("stopped"))
        release.wait(5)
        job.report([9, 9])  # after cancel: must not resurrect the entry
        raise RuntimeError("cancelled work may fail quietly")

    job = runner.start("layout", slow, progress="som", initial=[0, 10])
    assert rec.progress == {"som": [0, 10]}
    runner.cancel("layout")
    assert hooks == ["stopped"] and rec.progress == {}
    release.set()
    assert job.join(5)
    assert rec.progress == {} and rec.errors == []
    late: list[str] = []
    job.on_cancel(lambda: late.append("now"))  # already cancelled: runs at once
    assert late == ["now"]


def test_a_newer_job_replaces_the_older_one_and_owns_the_entry() -> None:
    runner, rec = _runner()
    gate = threading.Event()

    def old(job: Job) -> None:
        gate.wait(5)
        job.report(["old"])

    def new(job: Job) -> None:
        job.report(["new"])
        gate.wait(5)
        job.final = "done"

    first = runner.start("thumbs", old, progress="thumbs", initial=[0, 1])
    runner.start("thumbs", new, progress="thumbs", initial=[0, 2])
    assert first.cancelled
    time.sleep(0.05)
    gate.set()
    assert runner.wait(5)
    assert rec.progress == {"thumbs": "done"}


def test_wait_follows_jobs_started_by_jobs_and_cancel_all_spares_the_caller() -> None:
    runner, rec = _runner()
    seen: list[str] = []

    def second(job: Job) -> None:
        time.sleep(0.1)
        seen.append("second")

    def first(job: Job) -> None:
        runner.cancel_all()  # like a rescan calling refresh(): must not cancel itself
        assert not job.cancelled
        runner.start("table", second)
        seen.append("first")

    runner.start("scan", first)
    assert runner.wait(5)
    assert seen == ["first", "second"] and rec.errors == []


def test_request_pool_reports_task_errors() -> None:
    errors: list[str] = []
    pool = RequestPool(errors.append)
    done = threading.Event()

    def bad() -> None:
        raise OSError("disk gone")

    pool.submit("thumbs", bad)
    pool.submit("info", done.set)
    assert done.wait(5)
    assert errors == ["thumbs: OSError: disk gone"]
    pool.close()


def test_request_pool_replaces_stalled_workers_and_names_them() -> None:
    errors: list[str] = []
    pool = RequestPool(errors.append, workers=1, stall_s=0.2, max_threads=3)
    stuck = threading.Event()

    def hang() -> None:
        note("thumbs: /photos/fifo.jpg")
        stuck.wait(10)

    pool.submit("thumbs", hang)
    time.sleep(0.4)
    answered = threading.Event()
    pool.submit("info", answered.set)
    assert answered.wait(5), "a stalled worker blocked the next request"
    assert any("/photos/fifo.jpg" in e for e in errors), errors
    assert pool.stalled() == ["thumbs: /photos/fifo.jpg"]
    stuck.set()
    pool.close()


def test_request_pool_queue_is_bounded() -> None:
    pool = RequestPool(lambda _t: None, workers=1, max_threads=1, max_queue=2)
    gate = threading.Event()
    pool.submit("a", lambda: gate.wait(5))
    time.sleep(0.1)
    pool.submit("b", lambda: None)
    pool.submit("c", lambda: None)
    with pytest.raises(PoolBusyError, match="too many requests"):
        pool.submit("d", lambda: None)
    gate.set()
    pool.close()
