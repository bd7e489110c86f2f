"""Issue 19, round 3: a rescan that finds nothing changes nothing (file, map, table, thumbnails);
an unreachable or malformed Ray address fails fast with a message and writes nothing (real
processes); clear answers for huge numbers, a full request queue and a failing ``on_hover``; and
what a closed widget does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import capture_sends, wait_for
from PIL import Image

import vectorvision_widget as vv
import vectorvision_widget.scanning.engines as engines
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.scanning.rescan import rescan
from vectorvision_widget.widget.jobs import RequestPool
from vectorvision_widget.widget.requests import BrowserRequests

OLD = 1_600_000_000  # an mtime no save can produce: any rewrite of the file shows


def photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = np.random.default_rng(seed * 100 + i).integers(0, 255, (24, 32, 3), np.uint8)
        path = folder / f"p{i:02d}.png"
        Image.fromarray(arr).save(path)
        out.append(path)
    return out


def saved_library(tmp_path: Path, encoders: Any, n: int = 4) -> Path:
    photos(tmp_path / "photos", n)
    lib = vv.Library()
    vv.scan(tmp_path / "photos", lib, encoders=encoders, progress=False)
    lib_file = tmp_path / "lib.json"
    lib.save(lib_file)
    os.utime(lib_file, (OLD, OLD))
    return lib_file


def fingerprint(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


# ---------------------------------------------------------------------- item 12


def test_a_rescan_that_finds_nothing_does_not_rewrite_the_library(
    tmp_path: Path, encoders: Any
) -> None:
    lib_file = saved_library(tmp_path, encoders)
    before = fingerprint(lib_file)
    lib = vv.Library.load(lib_file)
    done = rescan(lib, encoders)
    assert done.report is not None and done.report.unchanged == 4
    assert done.saved is None and fingerprint(lib_file) == before
    (tmp_path / "photos" / "p00.png").unlink()  # a real change is saved
    done = rescan(lib, encoders)
    assert done.saved == lib_file and len(vv.Library.load(lib_file)) == 3


def test_a_widget_rescan_that_finds_nothing_keeps_the_map_as_it_is(
    tmp_path: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib_file = saved_library(tmp_path, encoders)
    before = fingerprint(lib_file)
    w = vv.VectorVision(vv.Library.load(lib_file), encoders=encoders)
    assert w.wait(60)
    trained: list[int] = []
    real_train, real_table = mapdata.train_layout, mapdata.neighbours
    monkeypatch.setattr(mapdata, "train_layout", lambda *a: trained.append(1) or real_train(*a))
    monkeypatch.setattr(mapdata, "neighbours", lambda *a: trained.append(2) or real_table(*a))
    sent = capture_sends(w)
    version, cells, table = w._data_version, w.cells, w._table
    w.rescan()
    assert w.wait(120)
    assert "nothing changed" in w.status and w.last_scan.unchanged == 4
    assert trained == [] and [m for m, _ in sent if m["type"] == "atlas"] == []
    assert w._data_version == version and w._table is table
    np.testing.assert_array_equal(w.cells, cells)
    assert fingerprint(lib_file) == before and w.error == ""
    w.close()


# ---------------------------------------------------------------------- item 6 (real processes)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["VECTORVISION_CACHE"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    env.pop("RAY_ADDRESS", None)
    return env


def scan_cli(tmp_path: Path, models: Path, env: dict[str, str], ray: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "vectorvision_widget", "scan", str(tmp_path / "photos")]
    argv += ["--library", str(tmp_path / "lib.json"), f"--ray={ray}"]
    argv += ["--models-dir", str(models), "--quiet"]
    return subprocess.Popen(
        argv,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_default_sigint,  # a CI job run in the background inherits SIGINT ignored
    )


def _default_sigint() -> None:
    """In the child, before Python starts: SIGINT at its default, so Python turns it into
    KeyboardInterrupt as in a terminal (an ignored SIGINT is inherited and kept ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts no connection and refuses none: its backlog is full, so a connect
    waits for an answer that never comes (a firewalled or hung head node)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fill = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fill.append(c)
    time.sleep(0.2)
    yield port
    for c in fill:
        c.close()
    server.close()


@pytest.mark.parametrize("existing", [False, True])
def test_a_ray_address_with_nothing_listening_fails_at_once_and_writes_nothing(
    tmp_path: Path, tiny_models_dir: Path, cli_env: dict[str, str], existing: bool
) -> None:
    photos(tmp_path / "photos", 2)
    lib_file = tmp_path / "lib.json"
    if existing:
        vv.Library().save(lib_file)
        os.utime(lib_file, (OLD, OLD))
        before = fingerprint(lib_file)
    t0 = time.monotonic()
    p = scan_cli(tmp_path, tiny_models_dir, cli_env, f"127.0.0.1:{free_port()}")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, (out, err)
    assert "cannot reach the Ray cluster at 127.0.0.1:" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 60
    assert fingerprint(lib_file) == before if existing else not lib_file.exists()


@pytest.mark.parametrize("address", ["garbage://x", "10.0.0.5:port", "ray://h:99999"])
def test_a_malformed_ray_address_is_named_and_nothing_is_written(
    tmp_path: Path, tiny_models_dir: Path, cli_env: dict[str, str], address: str
) -> None:
    photos(tmp_path / "photos", 2)
    p = scan_cli(tmp_path, tiny_models_dir, cli_env, address)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, (out, err)
    assert f"Ray address {address!r}" in err and "host:port" in err
    assert "Traceback" not in err and not (tmp_path / "lib.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_a_scan_waiting_for_a_silent_cluster_at_once(
    tmp_path: Path,
    tiny_models_dir: Path,
    cli_env: dict[str, str],
    silent_port: int,
    sig: signal.Signals,
) -> None:
    photos(tmp_path / "photos", 2)
    lib_file = tmp_path / "lib.json"
    vv.Library().save(lib_file)
    os.utime(lib_file, (OLD, OLD))
    before = fingerprint(lib_file)
    p = scan_cli(tmp_path, tiny_models_dir, cli_env, f"127.0.0.1:{silent_port}")
    time.sleep(4)  # models loaded, the probe is waiting (it gives up after 10 s)
    assert p.poll() is None
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert time.monotonic() - t0 < 3, (out, err)
    if sig == signal.SIGINT:
        assert p.returncode == 130 and "nothing saved" in err, (out, err)
    else:
        assert p.returncode == -signal.SIGTERM
    assert fingerprint(lib_file) == before


def test_a_silent_cluster_times_out_with_a_message(silent_port: int) -> None:
    from vectorvision_widget.scanning import ray as ray_engine

    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=r"no answer within 0\.5 s"):
        ray_engine.probe(f"127.0.0.1:{silent_port}", timeout=0.5)
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------------------------- item 10 (rest)


def small_widget(**kw: Any) -> vv.VectorVision:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8)).astype(np.float32)
    lib = vv.Library.from_arrays([f"/nonexistent/{i}.jpg" for i in range(6)], x, x)
    return vv.VectorVision(lib, **kw)


def test_huge_numbers_are_named_in_a_short_message() -> None:
    w = small_widget()
    for value in (1e308, 10**400):
        with pytest.raises(vv.widget.widget.traitlets.TraitError) as info:
            w.thumb_size = value  # type: ignore[assignment]
        assert len(str(info.value)) < 80 and "thumb_size must be between 4 and 64" in str(
            info.value
        )
    w._requests.handle({"type": "thumbs", "rows": [0], "size": 1e308, "req": 1})
    assert "1e+308" in w.error and len(w.error) < 100
    w.close()


def test_an_info_request_over_a_full_queue_gets_a_busy_answer() -> None:
    w = small_widget()
    sent = capture_sends(w)
    gate = threading.Event()
    pool = RequestPool(w._host.show_error, workers=1, max_threads=1, max_queue=1)
    requests = BrowserRequests(w._host, pool)
    pool.submit("block", lambda: gate.wait(10) and None)
    wait_for(lambda: pool.stalled() == [] and pool._queue.empty())  # the blocker is running
    pool.submit("fill", lambda: None)
    requests.handle({"type": "info", "row": 3})
    gate.set()
    busy = [m for m, _ in sent if m.get("type") == "info"]
    assert busy == [
        {"type": "info", "row": 3, "meta": None, "busy": True, "version": w._data_version}
    ]
    assert "too many requests" in w.error
    pool.close()
    w.close()


def test_an_on_hover_callback_that_raises_shows_in_error() -> None:
    w = small_widget()
    seen: list[int | None] = []

    @w.on_hover
    def broken(row: int | None) -> None:
        raise ValueError(f"no row {row}")

    w.on_hover(seen.append)
    w.hovered = 2  # does not raise into the caller
    assert "on_hover" in w.error and "broken" in w.error and "no row 2" in w.error
    assert seen == [2]  # the other callbacks still run
    w.close()


# ---------------------------------------------------------------------- decided: closed widgets


def test_a_closed_widget_ignores_requests_and_refuses_a_rescan(
    tmp_path: Path, encoders: Any
) -> None:
    lib_file = saved_library(tmp_path, encoders, n=2)
    w = vv.VectorVision(vv.Library.load(lib_file), encoders=encoders)
    assert w.wait(60)
    sent = capture_sends(w)
    w.close()
    w._requests.handle({"type": "info", "row": 0})
    w._requests.handle({"type": "rescan"})
    w._requests.handle({"type": "hello"})
    time.sleep(0.2)
    assert sent == [] and w.error == "" and w.last_scan is None
    with pytest.raises(RuntimeError, match="closed"):
        w.rescan()


def test_closing_during_a_rescan_stops_it_and_keeps_the_finished_rows(
    tmp_path: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib_file = saved_library(tmp_path, encoders, n=1)
    photos(tmp_path / "photos", 8, seed=3)  # 7 new files, p00 changed
    w = vv.VectorVision(vv.Library.load(lib_file), encoders=encoders)
    assert w.wait(60)
    first, closed = threading.Event(), threading.Event()
    real = engines.scan

    def scan(folder: Any, lib: Any, **kw: Any) -> Any:
        report = kw["on_progress"]

        def on_progress(done: int, total: int, path: str) -> None:
            first.set()
            closed.wait(10)
            report(done, total, path)

        return real(folder, lib, **{**kw, "on_progress": on_progress, "batch_size": 1})

    monkeypatch.setattr(engines, "scan", scan)
    w.rescan()
    assert first.wait(60)
    w.close()
    closed.set()
    assert w.wait(60)
    again = vv.Library.load(lib_file)
    assert 1 <= len(again) < 8  # stopped early; what it finished is on disk
    assert w.last_scan is None  # a closed widget is not refreshed


# ---------------------------------------------------------------------- decided: files, callbacks


def test_saving_over_a_read_only_library_is_refused_and_writes_nothing(
    tmp_path: Path, encoders: Any
) -> None:
    lib_file = saved_library(tmp_path, encoders, n=2)
    lib = vv.Library.load(lib_file)
    lib_file.chmod(0o444)
    before = fingerprint(lib_file)
    lib.remove([lib.paths[0]])
    for overwrite in (False, True):
        with pytest.raises(PermissionError, match=r"read-only \(mode 0444\).*chmod u\+w"):
            lib.save(overwrite=overwrite)
    assert fingerprint(lib_file) == before
    lib_file.chmod(0o644)
    assert lib.save() == lib_file and len(vv.Library.load(lib_file)) == 1


SECOND_WRITER = """
import sys, numpy as np, vectorvision_widget as vv
lib = vv.Library.load(sys.argv[1])
lib.remove([lib.paths[0]])
lib.save()
print("saved", flush=True)
"""


def test_a_deleted_lock_lets_a_second_writer_in_but_no_save_is_lost(
    tmp_path: Path, encoders: Any, cli_env: dict[str, str]
) -> None:
    from vectorvision_widget import LibraryChangedError
    from vectorvision_widget.library.lock import lock_file

    lib_file = saved_library(tmp_path, encoders, n=3)
    mine = vv.Library.load(lib_file)
    with mine.lock():
        lock_file(lib_file).unlink()  # someone "cleans up" the lock while we hold it
        other = subprocess.run(
            [sys.executable, "-c", SECOND_WRITER, str(lib_file)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.stdout.strip() == "saved", other.stderr
        mine.remove([mine.paths[-1]])
        with pytest.raises(LibraryChangedError):
            mine.save()  # the other writer's save is never silently replaced
    assert len(vv.Library.load(lib_file)) == 2


def test_an_exception_in_the_progress_callback_propagates_and_keeps_the_rows(
    tmp_path: Path, encoders: Any
) -> None:
    photos(tmp_path / "photos", 6)
    lib = vv.Library()
    calls: list[int] = []

    def on_progress(done: int, total: int, path: str) -> None:
        calls.append(done)
        if done == 3:
            raise ValueError("my callback is broken")

    with pytest.raises(ValueError, match="my callback is broken"):
        vv.scan(
            tmp_path / "photos", lib, encoders=encoders, progress=False, on_progress=on_progress
        )
    assert calls[-1] == 3  # stopped at once; the rows stored before it stay, whole
    assert lib.features.shape[0] == lib.visual_features.shape[0] == len(lib) <= 3
