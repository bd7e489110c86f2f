"""Run the JS unit tests (``node --test js/tests/``) and the JS type check (``tsc`` over the
JSDoc types, strict) so ``python -m pytest`` covers them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _node() -> str:
    node = shutil.which("node")
    assert node, "node (>= 18) is required for the JS tests: install Node.js"
    return node


def test_node_unit_tests_pass() -> None:
    tests = sorted(str(p.relative_to(REPO)) for p in (REPO / "js" / "tests").glob("*.test.js"))
    assert len(tests) >= 9, tests
    proc = subprocess.run(
        [_node(), "--test", *tests], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-2000:]


def test_js_typecheck_passes() -> None:
    tsc = REPO / "node_modules" / "typescript" / "bin" / "tsc"
    assert tsc.exists(), "TypeScript is missing: run `npm ci` (it is a devDependency)"
    proc = subprocess.run(
        [_node(), str(tsc), "--noEmit", "-p", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
