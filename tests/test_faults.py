"""Fault injection with real processes: two scans of one library, kill -9 during a scan and during
a save, a root renamed away mid-life, a read-only image folder, FIFOs. The library on disk must
always load, and nothing another writer or an offline folder contributed may be lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vectorvision_widget.library.store import Library

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and FIFOs")


def photos(folder: Path, n: int, seed: int = 0, size: tuple[int, int] = (32, 24)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = np.random.default_rng(seed * 1000 + i).integers(0, 255, (*size[::-1], 3), np.uint8)
        path = folder / f"p{i:03d}.png"
        Image.fromarray(arr).save(path)
        out.append(path)
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["VECTORVISION_CACHE"] = str(tmp_path / "cache")
    e.pop("RAY_ADDRESS", None)
    return e


def cli(args: list[str], models: Path, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "vectorvision_widget",
        *args,
        "--models-dir",
        str(models),
        "--quiet",
    ]
    return subprocess.Popen(argv, env=env, text=True, **kw)


def wait_for_text(path: Path, text: str, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


HOLD_LOCK = """
import sys, time, pathlib
from vectorvision_widget.cli import library_lock
lib, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with library_lock(lib):
    print("held", flush=True)
    while not release.exists():
        time.sleep(0.05)
"""


def test_a_second_scan_waits_for_the_lock_and_says_so(
    tmp_path: Path, tiny_models_dir: Path, env: dict[str, str]
) -> None:
    photos(tmp_path / "a", 3)
    lib, release = tmp_path / "lib.json", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lib), str(release)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        err = tmp_path / "err.txt"
        with open(err, "w") as fh:
            scan = cli(
                ["scan", str(tmp_path / "a"), "--library", str(lib)],
                tiny_models_dir,
                env,
                stderr=fh,
                stdout=subprocess.DEVNULL,
            )
            assert wait_for_text(err, "waiting for another scan of"), err.read_text()
            assert str(lib) in err.read_text()
            time.sleep(0.5)
            assert scan.poll() is None and not lib.exists()  # really waiting
            release.touch()
            assert scan.wait(120) == 0
        assert len(Library.load(lib)) == 3
    finally:
        release.touch()
        holder.wait(30)


def test_two_concurrent_scans_into_one_library_lose_nothing(
    tmp_path: Path, tiny_models_dir: Path, env: dict[str, str]
) -> None:
    a, b = photos(tmp_path / "a", 6), photos(tmp_path / "b", 5, seed=1)
    lib = tmp_path / "lib.json"
    procs = [
        cli(
            ["scan", str(tmp_path / n), "--library", str(lib)],
            tiny_models_dir,
            env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in ("a", "b")
    ]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert "saved" in out
    assert sorted(Library.load(lib).paths) == sorted(map(str, a + b))


def test_kill_9_during_a_scan_leaves_a_loadable_library_and_no_stale_lock(
    tmp_path: Path, tiny_models_dir: Path, env: dict[str, str]
) -> None:
    a = photos(tmp_path / "a", 4)
    b = photos(tmp_path / "b", 60, seed=2, size=(320, 240))
    lib = tmp_path / "lib.json"
    first = cli(["scan", str(tmp_path / "a"), "--library", str(lib)], tiny_models_dir, env)
    assert first.wait(120) == 0
    for delay in (0.3, 1.5, 3.0):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        p = cli(
            ["scan", str(tmp_path / "b"), "--library", str(lib), "--batch-size", "2"],
            tiny_models_dir,
            env,
            **quiet,
        )
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        loaded = Library.load(lib)  # always a complete file: the old one or a new one
        assert {str(x) for x in a} <= set(loaded.paths)
    done = cli(
        ["scan", str(tmp_path / "b"), "--library", str(lib)],
        tiny_models_dir,
        env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    _, err = done.communicate(timeout=180)
    assert done.returncode == 0 and "waiting" not in err  # a killed scan leaves no held lock
    assert sorted(Library.load(lib).paths) == sorted(map(str, a + b))


SAVE_LOOP = """
import sys
import numpy as np
from vectorvision_widget.library.store import Library
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
i = 0
print("start", flush=True)
while True:
    lib = Library.from_arrays([f"/x/{i}/{j}.jpg" for j in range(n)],
                              rng.normal(size=(n, 64)).astype("f4"))
    lib.save(path)
    i += 1
"""


@pytest.mark.parametrize("delay", [0.2, 0.7, 1.3])
def test_kill_9_during_save_leaves_the_old_or_the_new_file(
    tmp_path: Path, env: dict[str, str], delay: float
) -> None:
    lib = tmp_path / "lib.json"
    p = subprocess.Popen(
        [sys.executable, "-c", SAVE_LOOP, str(lib), "4000"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "start"
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    if lib.exists():
        loaded = Library.load(lib)
        assert len(loaded) == 4000 and loaded.paths[0].startswith("/x/")


def test_a_root_renamed_away_mid_life_keeps_its_records_through_save_and_load(
    tmp_path: Path, tiny_models_dir: Path, encoders: Any, env: dict[str, str]
) -> None:
    from vectorvision_widget.scanning.engines import scan

    root = tmp_path / "drive"
    files = photos(root, 4)
    lib = Library()
    scan(root, lib, encoders=encoders, keywords=["red", "blue"], progress=False)
    path = tmp_path / "lib.json"
    lib.save(path)
    root.rename(tmp_path / "drive-renamed")
    lib = Library.load(path)
    report = scan(root, lib, encoders=encoders, keywords=["red", "blue"], progress=False)
    assert report.offline and report.removed == [] and len(report.failed) == 1
    lib.save(path)
    assert sorted(Library.load(path).paths) == sorted(map(str, files))
    # the CLI refuses the missing folder without touching the file, and --prune is explicit
    before = path.read_bytes()
    p = cli(
        ["scan", str(root), "--library", str(path)],
        tiny_models_dir,
        env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Traceback" not in err and path.read_bytes() == before


def test_a_read_only_image_folder_is_never_written(
    tmp_path: Path, tiny_models_dir: Path, env: dict[str, str]
) -> None:
    root = tmp_path / "ro"
    photos(root, 3)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.iterdir()}
    root.chmod(0o555)
    try:
        p = cli(["scan", str(root), "--library", str(tmp_path / "lib.json")], tiny_models_dir, env)
        assert p.wait(120) == 0
        after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.iterdir()}
        assert after == before
        assert len(Library.load(tmp_path / "lib.json")) == 3
    finally:
        root.chmod(0o755)


def test_fifos_in_a_scanned_folder_never_block_the_cli(
    tmp_path: Path, tiny_models_dir: Path, env: dict[str, str]
) -> None:
    root = tmp_path / "photos"
    files = photos(root, 2)
    os.mkfifo(root / "stuck.jpg")
    os.mkfifo(root / "noext")
    p = cli(
        ["scan", str(root), "--library", str(tmp_path / "lib.json")],
        tiny_models_dir,
        env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the CLI blocked on a FIFO")
    assert p.returncode == 0, err
    assert sorted(Library.load(tmp_path / "lib.json").paths) == sorted(map(str, files))
