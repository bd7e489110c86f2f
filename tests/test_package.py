"""The public surface: every advertised name resolves, the CLI answers, importing stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vectorvision_widget as vv


@pytest.mark.parametrize("name", vv.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(vv, name) is not None


def test_lazy_table_and_all_agree() -> None:
    assert set(vv._LAZY) <= set(vv.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Librray'"):
        _ = vv.Librray


def test_import_does_not_load_onnxruntime_or_widgets() -> None:
    code = (
        "import sys, vectorvision_widget; "
        "print('onnxruntime' in sys.modules, 'anywidget' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("argv", [["-m", "vectorvision_widget", "--help"]])
def test_cli_help_lists_commands(argv: list[str]) -> None:
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=True)
    for command in ("fetch-models", "scan", "info"):
        assert command in out.stdout


def test_cli_info_on_a_broken_library_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "vectorvision-library", "version": 2, "images": [')
    out = subprocess.run(
        [sys.executable, "-m", "vectorvision_widget", "info", str(bad)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "broken.json" in out.stderr


def test_cli_scan_of_a_missing_folder_is_a_clear_error(tmp_path) -> None:
    from tiny_models import build_tiny_models

    models = tmp_path / "models"
    build_tiny_models(models)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vectorvision_widget",
            "scan",
            str(tmp_path / "nope"),
            "--library",
            str(tmp_path / "lib.json"),
            "--models-dir",
            str(models),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "nope" in out.stderr and "does not exist" in out.stderr
    assert not (tmp_path / "lib.json").exists()
