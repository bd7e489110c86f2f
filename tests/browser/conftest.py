"""Fixtures for real-browser tests: ONE Jupyter server and ONE Chromium for the whole session.
The server is JupyterLab's; with ``notebook`` (7) installed it serves Notebook 7 pages too
(``/notebooks/<file>``). Both expose their app object (``window.jupyterapp``) so tests run
commands (run all cells, change theme) without clicking through menus.

Debian's /usr/bin/chromium is driven by Playwright for Python (never `playwright install`: it
downloads). Every process we start is ended by PID, with its descendants (psutil), never by name.
Under CI=true a missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))  # so the test modules can `import nbpage`
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "vvtest"
ARTIFACTS = Path(os.environ.get("VV_ARTIFACTS", REPO / "artifacts"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_tree(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """End a process and every descendant, each by PID."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    proc.send_signal(signal.SIGTERM)  # jupyter shuts its kernels down on SIGTERM
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for kid in kids:
        with contextlib.suppress(psutil.NoSuchProcess):
            kid.kill()
    psutil.wait_procs(kids, timeout=5)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        msg = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set $CHROMIUM)"
        pytest.fail(msg)
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_server() -> Iterator[dict[str, Any]]:
    """A JupyterLab on a free port with a temp root, fixed token and no news/update checks."""
    root = Path(tempfile.mkdtemp(prefix="vvlab-"))
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(root / ".cfg"),
        JUPYTER_RUNTIME_DIR=str(root / ".rt"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(root / ".ipy"),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={root / '.ws'}",
        f"--LabApp.user_settings_dir={root / '.settings'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.port_retries=0",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        f"--JupyterNotebookApp.user_settings_dir={root / '.nb-settings'}",
        f"--JupyterNotebookApp.workspaces_dir={root / '.nb-ws'}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    notes = root / ".settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notes.parent.mkdir(parents=True)
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = open(root / "lab.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):
            if proc.poll() is not None:
                raise RuntimeError("jupyter lab died:\n" + (root / "lab.log").read_text())
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("jupyter lab did not start in 90 s")
        yield {"base": base, "root": root, "token": TOKEN, "proc": proc}
    finally:
        end_tree(proc)
        log.close()
        if os.environ.get("VV_KEEP") is None:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROME_ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    rep = (yield).get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)
