"""The shared pieces of the scan: one procedure behind both engines, one rescan behind the CLI
and the widget, and a models folder resolved and its manifest read once per `Encoders.load`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget as vv
import vectorvision_widget.models.encoders as encoders_module
import vectorvision_widget.models.keywords as keywords_module
import vectorvision_widget.models.manifest as manifest_module
import vectorvision_widget.scanning.engines as engines
import vectorvision_widget.scanning.rescan as rescan_module
from vectorvision_widget import cli
from vectorvision_widget.library.store import Library
from vectorvision_widget.models.encoders import Encoders
from vectorvision_widget.scanning.files import Failure, prepare_file
from vectorvision_widget.scanning.local import LocalEngine
from vectorvision_widget.scanning.procedure import Embedded, Results, Work, run_scan

LABELS = ["red", "green", "blue", "a car", "the sea"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keywords_module, "_MEMORY_CACHE", {})


def photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed * 100 + i)
        path = folder / f"p{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
        out.append(path)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return out


class OneByOne:
    """A third engine, as simple as an engine can be: one file at a time on this thread."""

    label = "one by one"

    def __init__(self) -> None:
        self.files: list[str] = []

    def run(self, work: Work, results: Results) -> None:
        enc = work.encoders
        for path in work.files:
            self.files.append(path)
            got = prepare_file(path, work.plan.found[path], enc, thumbs=work.thumbs)
            if isinstance(got, Failure):
                results.failed(got)
            else:
                f, v = enc.encode_pixels(got.siglip[None], got.dino[None])
                results.embedded([Embedded(got, f[0], v[0])])
            results.examined(got.path)


def test_any_engine_through_the_procedure_gives_the_local_scan(
    tmp_path: Path, encoders: Any
) -> None:
    """The procedure owns planning, applying, failures and the incremental rules: an engine
    that only turns files into results gives the same library and report as the local one."""
    files = photos(tmp_path / "photos", 4)
    tagger = keywords_module.KeywordTagger(encoders, LABELS, cache_dir=tmp_path / "kw")
    common: dict[str, Any] = {"encoders": encoders, "keywords": tagger, "progress": False}
    local, mine = Library(), Library()
    engine = OneByOne()
    a = run_scan(tmp_path / "photos", local, LocalEngine(2), **common)
    b = run_scan(tmp_path / "photos", mine, engine, **common)
    assert local.paths == mine.paths and sorted(a.added) == sorted(b.added)
    np.testing.assert_allclose(local.features, mine.features, atol=1e-5)
    assert [r["keywords"] for r in local.records] == [r["keywords"] for r in mine.records]
    assert [(f.path, f.error) for f in a.failed] == [(f.path, f.error) for f in b.failed]
    assert local.failures == mine.failures and len(mine.failures) == 1
    files[0].write_bytes(files[1].read_bytes())  # changed: re-embedded; the others are not
    b = run_scan(tmp_path / "photos", mine, engine, **common)
    assert engine.files[-2:] == sorted([str(files[0]), str(tmp_path / "photos" / "broken.jpg")])
    assert b.updated == [str(files[0])] and b.unchanged == 3


def test_vv_scan_runs_the_procedure_with_the_chosen_engine(
    tmp_path: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    def spy(folder: Any, lib: Any, engine: Any, **kw: Any) -> Any:
        seen.append(engine)
        return "report"

    monkeypatch.setattr(engines, "run_scan", spy)
    assert vv.scan(tmp_path, Library(), encoders=encoders, workers=3) == "report"
    assert vv.scan(tmp_path, Library(), encoders=encoders, engine="ray") == "report"
    from vectorvision_widget.scanning.ray import RayEngine

    assert isinstance(seen[0], LocalEngine) and seen[0].workers == 3
    assert isinstance(seen[1], RayEngine)


def test_the_cli_and_the_widget_share_one_rescan(
    tmp_path: Path, tiny_models_dir: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, list[str] | None]] = []
    real = rescan_module.rescan

    def spy(lib: Any, enc: Any, folders: Any = None, **kw: Any) -> Any:
        calls.append(("called", None if folders is None else [str(f) for f in folders]))
        return real(lib, enc, folders, **kw)

    monkeypatch.setattr(rescan_module, "rescan", spy)
    photos(tmp_path / "photos", 2)
    lib_file = tmp_path / "lib.json"
    argv = ["scan", str(tmp_path / "photos"), "--library", str(lib_file)]
    assert cli.main([*argv, "--models-dir", str(tiny_models_dir), "--quiet"]) == 0
    assert len(calls) == 1 and len(Library.load(lib_file)) == 2

    photos(tmp_path / "photos", 3, seed=5)  # p00..p02 changed or new
    lib = Library.load(lib_file)
    w = vv.VectorVision(lib, encoders=encoders)
    w.rescan()
    assert w.wait(120)
    assert len(calls) == 2 and calls[1][1] == [str(tmp_path / "photos")]
    assert len(Library.load(lib_file)) == 3 and "saved to" in w.status
    w.close()


def test_rescan_saves_under_the_lock_and_keeps_work_before_an_error(
    tmp_path: Path, encoders: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos(tmp_path / "a", 2)
    photos(tmp_path / "b", 2, seed=1)
    lib = Library()
    lib.save(tmp_path / "lib.json")
    real = engines.scan
    held: list[bool] = []

    def scan(folder: Any, lib_: Any, **kw: Any) -> Any:
        from filelock import FileLock

        from vectorvision_widget.library.lock import lock_file

        held.append(FileLock(str(lock_file(lib_.path)), is_singleton=True).is_locked)
        if Path(folder).name == "b":
            raise OSError(5, "Input/output error")
        return real(folder, lib_, **kw)

    monkeypatch.setattr(engines, "scan", scan)
    lib.roots.extend([str(tmp_path / "a"), str(tmp_path / "b")])
    done = rescan_module.rescan(lib, encoders)
    assert held == [True, True]
    assert isinstance(done.error, OSError) and done.saved is not None
    assert len(Library.load(tmp_path / "lib.json")) == 2
    assert done.report is not None and len(done.report.added) == 2


def test_encoders_load_resolves_the_folder_once_and_reads_the_manifest_once(
    tmp_path: Path, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    shutil.copytree(tiny_models_dir, folder)
    files = {
        p.name: {"sha256": manifest_module.file_sha256(p), "variant": "fp32"}
        for p in folder.iterdir()
    }
    (folder / "manifest.json").write_text(json.dumps({"format": "x", "version": 1, "files": files}))
    lookups: list[Any] = []
    reads: list[str] = []
    real_resolve = encoders_module.resolve_models_dir
    real_read_text = Path.read_text

    def resolve(models_dir: Any = None) -> Path:
        lookups.append(models_dir)
        return real_resolve(models_dir)

    def read_text(self: Path, *a: Any, **kw: Any) -> str:
        if self.name == "manifest.json":
            reads.append(str(self))
        return real_read_text(self, *a, **kw)

    for module in (encoders_module, manifest_module):
        monkeypatch.setattr(module, "resolve_models_dir", resolve)
    monkeypatch.setattr(Path, "read_text", read_text)
    enc = Encoders.load(folder)
    enc.provenance()
    enc.model_sha256(enc.meaning.text.filename)
    assert lookups == [folder] and reads == [str(folder / "manifest.json")]


def test_a_layout_is_one_job_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SOM trains on the layout job's own thread (no second thread, no FitHandle), and the
    job's cancel event stops it."""
    import threading
    from concurrent.futures import CancelledError

    import vectorvision_widget.widget.mapdata as mapdata

    names: list[str] = []
    real = mapdata.train_layout

    def spy(X: Any, grid: Any, on_cells: Any, stop: threading.Event, **kw: Any) -> Any:
        def frame(cells: Any, epoch: int, n_epochs: int) -> None:
            names.append(threading.current_thread().name)
            names.extend(t.name for t in threading.enumerate() if t.name == "vectorvision-som")
            on_cells(cells, epoch, n_epochs)

        return real(X, grid, frame, stop, **kw)

    monkeypatch.setattr(mapdata, "train_layout", spy)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 8)).astype(np.float32)
    lib = Library.from_arrays([f"/nowhere/{i}.jpg" for i in range(300)], feats, feats[:, :6])
    w = vv.VectorVision(lib)
    assert w.wait(120)
    assert names and set(names) == {"vv-layout"}
    w.close()
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        real(feats, (20, 20), lambda *a: None, stop)


def test_a_big_scan_says_its_estimate_first_and_the_bar_shows_rate_and_time_left(
    tmp_path: Path,
    tiny_models_dir: Path,
    encoders: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import vectorvision_widget.scanning.procedure as procedure

    monkeypatch.setattr(procedure, "ESTIMATE_ABOVE", 2)  # "big" = more than 2 images here
    n = len(photos(tmp_path / "photos", 3)) + 1  # and one broken file
    vv.scan(tmp_path / "photos", Library(), encoders=encoders)
    out, err = capsys.readouterr()
    assert re.search(rf"^{n} images to embed: .* at ~[\d.]+ images/s \(measured", out, re.M)
    assert re.search(rf"{n}/{n} \[[\d:]+<[\d:]+, +[\d.]+img/s\]", err)  # elapsed<left, rate
    photos(tmp_path / "small", 1)  # two files
    vv.scan(tmp_path / "small", Library(), encoders=encoders)
    assert "to embed" not in capsys.readouterr().out  # small scans start at once
    lib_file = tmp_path / "lib.json"
    argv = ["scan", str(tmp_path / "photos"), "--library", str(lib_file)]
    assert cli.main([*argv, "--models-dir", str(tiny_models_dir)]) == 0
    assert f"{n} images to embed" in capsys.readouterr().out
    assert cli.main([*argv, "--models-dir", str(tiny_models_dir), "--force", "--quiet"]) == 0
    assert "to embed" not in capsys.readouterr().out


def test_estimate_wording() -> None:
    import vectorvision_widget.scanning.procedure as procedure

    class Fixed:
        def embed_images(self, images: Any) -> None:
            pass

    est = procedure.scan_estimate(10_000, Fixed())  # type: ignore[arg-type]  # a stand-in
    assert est.startswith("10,000 images to embed: ")
    assert procedure._duration(30) == "under a minute"
    assert procedure._duration(60 * 35) == "about 35 min"
    assert procedure._duration(3600 * 2.5) == "about 2.5 h"
