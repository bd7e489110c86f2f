"""benchmarks/bench_gpu.sh stays runnable on a machine without a GPU (issue 11): it parses, its
plan is right, and its quick mode builds real-architecture models and prints the table on CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_gpu.sh"


def _run(*args: str, out: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VV_BENCH_DIR": str(out)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def test_script_parses_and_plans_a_cpu_run_without_cuda(tmp_path: Path) -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    done = _run("--dry-run", out=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    if shutil.which("nvidia-smi") is None:
        assert "CUDA is absent" in done.stdout
        assert "--providers cpu" in done.stdout
    assert "make_bench_models.py" in done.stdout and "--builder onnx" in done.stdout
    assert "bench_encoders.py" in done.stdout
    assert not (tmp_path / "models").exists()  # a dry run builds nothing
    bad = _run("--bogus", out=tmp_path, timeout=60)
    assert bad.returncode == 2 and "unknown option" in bad.stderr


@pytest.mark.slow
def test_quick_mode_measures_the_cpu(tmp_path: Path) -> None:
    done = _run("--quick", out=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| fp32 dinov2-small")]
    assert len(table) == 1, done.stdout
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    assert cells[1] == "8" and all(float(c) > 0 for c in cells[2:6])
    assert cells[-1] in ("CPU", "CUDA")
