"""The `vectorvision` CLI: validation before any work (exit 2, one line, no traceback), saving
what was done when interrupted or partly failed, offline folders kept, --prune, flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget.models.keywords as keywords_module
import vectorvision_widget.scanning.engines as scanning
from vectorvision_widget import cli
from vectorvision_widget.library.store import Library
from vectorvision_widget.models.encoders import Encoders


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Images that went through inference (class-level: the CLI loads its own Encoders)."""
    calls: list[int] = []
    original = Encoders.encode_pixels

    def counting(self: Any, siglip: np.ndarray, dino: np.ndarray) -> Any:
        calls.append(len(siglip))
        return original(self, siglip, dino)

    monkeypatch.setattr(Encoders, "encode_pixels", counting)
    return calls


def photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed * 100 + i)
        arr = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        path = folder / f"p{i:02d}.png"
        Image.fromarray(arr).save(path)
        out.append(path)
    return out


def run(argv: list[str], models: Path) -> int:
    return cli.main([*argv, "--models-dir", str(models), "--quiet"])


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]


# --- validation before any work -----------------------------------------------------------------


def test_a_missing_folder_stops_before_any_work(
    tmp_path: Path, tiny_models_dir: Path, encoded: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    photos(tmp_path / "good", 3)
    lib = tmp_path / "lib.json"
    code = run(
        ["scan", str(tmp_path / "good"), str(tmp_path / "missing"), "--library", str(lib)],
        tiny_models_dir,
    )
    assert code == 2
    assert "missing" in one_line_error(capsys.readouterr().err)
    assert encoded == [] and not lib.exists()


def test_a_library_in_a_missing_folder_stops_before_any_work(
    tmp_path: Path, tiny_models_dir: Path, encoded: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    photos(tmp_path / "good", 2)
    code = run(
        ["scan", str(tmp_path / "good"), "--library", str(tmp_path / "no/such/lib.json")],
        tiny_models_dir,
    )
    assert code == 2
    assert "does not exist" in one_line_error(capsys.readouterr().err)
    assert encoded == []


def test_an_unwritable_library_folder_stops_before_any_work(
    tmp_path: Path,
    tiny_models_dir: Path,
    encoded: list[int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos(tmp_path / "good", 2)
    libdir = tmp_path / "ro"
    libdir.mkdir()
    real_access = os.access

    def access(path: Any, mode: int, **kw: Any) -> bool:  # root ignores permission bits
        if Path(path) == libdir and mode & os.W_OK:
            return False
        return real_access(path, mode, **kw)

    monkeypatch.setattr(os, "access", access)
    code = run(
        ["scan", str(tmp_path / "good"), "--library", str(libdir / "lib.json")], tiny_models_dir
    )
    assert code == 2
    assert "not writable" in one_line_error(capsys.readouterr().err)
    assert encoded == []


@pytest.mark.parametrize("size", ["0", "-3"])
def test_batch_size_must_be_positive(
    tmp_path: Path, tiny_models_dir: Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    photos(tmp_path / "good", 1)
    code = run(
        [
            "scan",
            str(tmp_path / "good"),
            "--library",
            str(tmp_path / "l.json"),
            "--batch-size",
            size,
        ],
        tiny_models_dir,
    )
    assert code == 2
    assert "--batch-size" in one_line_error(capsys.readouterr().err)


def test_a_broken_library_file_is_one_line(
    tmp_path: Path, tiny_models_dir: Path, capsys: pytest.CaptureFixture[str], encoded: list[int]
) -> None:
    photos(tmp_path / "good", 1)
    lib = tmp_path / "lib.json"
    lib.write_text("{not json")
    code = run(["scan", str(tmp_path / "good"), "--library", str(lib)], tiny_models_dir)
    assert code == 2
    assert str(lib) in one_line_error(capsys.readouterr().err)
    assert lib.read_text() == "{not json" and encoded == []


def test_a_folder_that_is_a_file_is_one_line(
    tmp_path: Path, tiny_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f.txt").write_text("x")
    code = run(
        ["scan", str(tmp_path / "f.txt"), "--library", str(tmp_path / "l.json")], tiny_models_dir
    )
    assert code == 2 and "not a folder" in one_line_error(capsys.readouterr().err)


# --- partial work is saved ----------------------------------------------------------------------


def test_an_interrupted_scan_saves_what_was_done(
    tmp_path: Path,
    tiny_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos(tmp_path / "a", 12)
    original = Encoders.encode_pixels
    calls = []

    def interrupt_second(self: Any, s: np.ndarray, d: np.ndarray) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, s, d)

    monkeypatch.setattr(Encoders, "encode_pixels", interrupt_second)
    lib = tmp_path / "lib.json"
    code = run(
        ["scan", str(tmp_path / "a"), "--library", str(lib), "--batch-size", "4"], tiny_models_dir
    )
    out = capsys.readouterr().out
    assert code == 130
    assert "interrupted" in out and "saved 4 images" in out
    assert len(Library.load(lib)) == 4
    monkeypatch.setattr(Encoders, "encode_pixels", original)
    assert run(["scan", str(tmp_path / "a"), "--library", str(lib)], tiny_models_dir) == 0
    assert len(Library.load(lib)) == 12


def test_a_failure_in_a_later_folder_keeps_the_earlier_ones(
    tmp_path: Path,
    tiny_models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos(tmp_path / "a", 3)
    photos(tmp_path / "b", 2, seed=1)
    real = scanning.scan

    def fail_on_b(folder: Any, *args: Any, **kw: Any) -> Any:
        if Path(folder).name == "b":
            raise OSError(5, "Input/output error", str(folder))
        return real(folder, *args, **kw)

    monkeypatch.setattr(scanning, "scan", fail_on_b)
    lib = tmp_path / "lib.json"
    code = run(
        ["scan", str(tmp_path / "a"), str(tmp_path / "b"), "--library", str(lib)], tiny_models_dir
    )
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    assert "Input/output error" in captured.err and "saved 3 images" in captured.out
    assert len(Library.load(lib)) == 3


# --- offline folders and --prune ----------------------------------------------------------------


def test_offline_folder_is_kept_and_prune_is_explicit(
    tmp_path: Path, tiny_models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos(tmp_path / "drive", 3)
    photos(tmp_path / "home", 2, seed=1)
    lib = tmp_path / "lib.json"
    assert (
        run(
            ["scan", str(tmp_path / "drive"), str(tmp_path / "home"), "--library", str(lib)],
            tiny_models_dir,
        )
        == 0
    )
    (tmp_path / "drive").rename(tmp_path / "unplugged")  # the drive is unmounted
    capsys.readouterr()
    assert run(["scan", str(tmp_path / "drive"), "--library", str(lib)], tiny_models_dir) == 2
    one_line_error(capsys.readouterr().err)
    assert run(["scan", str(tmp_path / "home"), "--library", str(lib)], tiny_models_dir) == 0
    assert len(Library.load(lib)) == 5  # the offline drive's records are kept
    code = run(["scan", str(tmp_path / "drive"), "--library", str(lib), "--prune"], tiny_models_dir)
    assert code == 0
    assert "pruned 3 records" in capsys.readouterr().out
    again = Library.load(lib)
    assert len(again) == 2 and str(tmp_path / "drive") not in again.roots


# --- flags --------------------------------------------------------------------------------------


def test_ray_flag_does_not_swallow_a_folder() -> None:
    args = cli.build_parser().parse_args(["scan", "--ray", "/tmp", "--library", "l.json"])
    cli._split_ray(args)
    assert args.folders == ["/tmp"] and args.ray == ""
    args = cli.build_parser().parse_args(["scan", "/tmp", "--library", "l", "--ray", "auto"])
    cli._split_ray(args)
    assert args.folders == ["/tmp"] and args.ray == "auto"
    args = cli.build_parser().parse_args(["scan", "/tmp", "--library", "l", "--ray=ray://h:1"])
    cli._split_ray(args)
    assert args.ray == "ray://h:1"


def test_fetch_models_offers_the_model_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import vectorvision_widget.models.fetch as fetch
    import vectorvision_widget.models.specs as models

    seen: dict[str, Any] = {}
    monkeypatch.setattr(fetch, "fetch_models", lambda **kw: seen.update(kw) or Path("m"))
    name_v, name_s = sorted(models.VISUAL_MODELS)[0], sorted(models.SEMANTIC_MODELS)[0]
    assert cli.main(["fetch-models", "--visual", name_v, "--semantic", name_s, "--quiet"]) == 0
    assert seen["visual"] == name_v and seen["semantic"] == name_s
    with pytest.raises(SystemExit):
        cli.main(["fetch-models", "--visual", "no-such-model"])


def test_ray_flag_without_ray_installed_is_one_line(
    tmp_path: Path,
    tiny_models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    encoded: list[int],
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    photos(tmp_path / "a", 1)
    code = run(
        ["scan", str(tmp_path / "a"), "--library", str(tmp_path / "l.json"), "--ray"],
        tiny_models_dir,
    )
    assert code == 2 and "pip install" in one_line_error(capsys.readouterr().err)
    assert encoded == []


CTRL_C_DURING_SAVE = """
import os, signal, sys
import vectorvision_widget.library.format as libformat
from vectorvision_widget import cli

original = libformat.iter_library

def interrupted(*args, **kwargs):
    for i, chunk in enumerate(original(*args, **kwargs)):
        if i == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the library is being written
        yield chunk

libformat.iter_library = interrupted
sys.exit(cli.main(sys.argv[1:]))
"""


def test_ctrl_c_while_the_cli_writes_the_library_keeps_the_whole_scan(
    tmp_path: Path, tiny_models_dir: Path
) -> None:
    import subprocess
    import sys

    photos(tmp_path / "a", 9)
    lib = tmp_path / "lib.json"
    argv = ["scan", str(tmp_path / "a"), "--library", str(lib)]
    argv += ["--models-dir", str(tiny_models_dir), "--quiet"]
    env = {**os.environ, "VECTORVISION_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_SAVE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 130, done.stderr
    assert "finishing writing" in done.stderr
    assert "saved 9 images" in done.stdout and "interrupted" in done.stdout
    assert "Traceback" not in done.stderr
    assert len(Library.load(lib)) == 9  # the finished scan was saved, not thrown away


def test_a_second_ctrl_c_abandons_the_save_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import vectorvision_widget.library.format as libformat

    path = tmp_path / "lib.json"
    old = Library.from_arrays(["/old.jpg"], np.ones((1, 4)))
    old.save(path)
    before = path.read_bytes()
    lib = Library.load(path)
    lib.upsert({"path": "/new.jpg"}, np.ones(4))
    original = libformat.iter_library

    def twice(*args: Any, **kwargs: Any) -> Any:
        for i, chunk in enumerate(original(*args, **kwargs)):
            if i in (1, 2):
                os.kill(os.getpid(), signal.SIGINT)
            yield chunk

    monkeypatch.setattr(libformat, "iter_library", twice)
    with pytest.raises(KeyboardInterrupt) as info:
        lib.save()
    assert type(info.value) is KeyboardInterrupt  # abandoned, not "saved then interrupted"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.json", "lib.json.lock"]


def test_version_and_help_for_every_argument(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    import vectorvision_widget

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"vectorvision {vectorvision_widget.__version__}"
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, f"`vectorvision {name}` {action.dest} has no help text"


def test_messages_speak_the_command_lines_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["info", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "vectorvision scan FOLDER --library" in err and "Library()" not in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "vectorvision-library", "version": 2, "images": [7]}')
    assert cli.main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "record 0 is a number, expected an object" in err and "a int" not in err
    (tmp_path / "photos").mkdir()
    argv = ["scan", str(tmp_path / "photos"), "--library", str(tmp_path / "lib.json")]
    assert cli.main([*argv, "--models-dir", str(tmp_path / "no_models")]) == 2
    err = capsys.readouterr().err
    assert "vectorvision fetch-models" in err and "--models-dir" in err
    assert "models_dir=" not in err
