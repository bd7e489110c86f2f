"""Run the JS unit tests (``node --test js/tests/``) so ``python -m pytest`` covers them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "node (>= 18) is required for the JS unit tests: install Node.js"
    tests = sorted(str(p.relative_to(REPO)) for p in (REPO / "js" / "tests").glob("*.test.js"))
    assert len(tests) >= 4, tests
    proc = subprocess.run(
        [node, "--test", *tests], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-2000:]
