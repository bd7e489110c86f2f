"""demo.ipynb runs top to bottom on tiny test models, and the bundled sample library is sound.

The notebook is executed with nbclient in a fresh kernel, the way CI and a new user run it, with
$VECTORVISION_MODELS pointing at the tiny models and a temporary working folder. A probe cell is
appended (in memory only) that dumps the notebook's variables to JSON, so the checks below can
compare them with independent computations instead of parsing printed text.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from vectorvision_widget.sample import sample_folder, sample_images, sample_notice

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo.ipynb"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
ALLOWED_LICENCES = ("CC0-1.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "Public domain")

PROBE = """
import json as _json
_probe = {
    "paths": list(lib.paths),
    "failed": [str(f.path) for f in report.failed],
    "library_file": str(LIBRARY.resolve()),
    "X": np.asarray(X, dtype=float).tolist(),
    "labels": np.asarray(labels).tolist(),
    "centres": np.asarray(centres, dtype=float).tolist(),
    "cells": np.asarray(cells).tolist(),
    "query": QUERY,
    "hits": [[int(r), float(s)] for r, s in hits],
    "selected": [int(r) for r in w.selected],
    "selected_paths": list(w.selected_paths),
    "read_back": list(selected),
    "row": int(row),
    "neighbours": {str(k): [int(r) for r in v] for k, v in neighbours.items()},
    "duplicates": {k: [[int(r) for r in g] for g in v] for k, v in dups.items()},
    "som_cells": np.asarray(som.cells).tolist(),
}
with open("probe.json", "w") as _f:
    _json.dump(_probe, _f)
"""


def _pythonpath() -> str:
    """PYTHONPATH for the kernel: this source tree first, whatever else is installed."""
    return os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def _notice_entries() -> dict[str, dict[str, str]]:
    """Parse NOTICE's `File:` blocks into {file name: {field: value}}."""
    entries: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", sample_notice()):
        fields = dict(re.findall(r"^(\w+): (.+)$", block, flags=re.MULTILINE))
        if "File" in fields:
            assert fields["File"] not in entries, f"{fields['File']} is listed twice in NOTICE"
            entries[fields["File"]] = fields
    return entries


# ---------------------------------------------------------------------------- sample library


def test_sample_folder_size_and_count() -> None:
    folder = sample_folder()
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    assert 20 <= len(images) <= 60
    assert sample_images() == sorted(images)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 5 * 1024 * 1024, f"sample folder is {total / 1e6:.1f} MB, over 5 MB"


def test_every_sample_image_is_in_notice_with_a_licence() -> None:
    entries = _notice_entries()
    names = {p.name for p in sample_images()}
    assert names - entries.keys() == set(), "images missing from NOTICE"
    assert entries.keys() - names == set(), "NOTICE lists files that are not in the folder"
    for name, fields in entries.items():
        for key in ("Original", "Source", "Author", "License"):
            assert fields.get(key, "").strip(), f"{name}: NOTICE has no {key}"
        assert fields["License"].startswith(ALLOWED_LICENCES), f"{name}: {fields['License']}"


def test_sample_images_decode_small_and_without_exif() -> None:
    shapes = set()
    for path in sample_images():
        with Image.open(path) as im:
            im.load()
            assert max(im.size) <= 640, f"{path.name} is {im.size}"
            assert not im.getexif(), f"{path.name} still carries EXIF"
            assert im.mode in ("RGB", "L")
            shapes.add(im.size)
    assert len(shapes) > 3, "expected a mix of image sizes and orientations"


# ---------------------------------------------------------------------------- demo notebook


def test_demo_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(DEMO, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "demo.ipynb has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "clear outputs before commit"


@pytest.fixture(scope="module")
def demo_run(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Execute demo.ipynb once (fresh kernel, tiny models, temporary working folder)."""
    workdir = tmp_path_factory.mktemp("demo")
    nb = nbformat.read(DEMO, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECTORVISION_MODELS", str(tiny_models_dir))
        mp.setenv("PYTHONPATH", _pythonpath())  # the kernel imports this source tree
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        )
        client.execute()
    probe = json.loads((workdir / "probe.json").read_text())
    return {"nb": nb, "probe": probe, "workdir": workdir}


def test_demo_without_models_says_how_to_fetch_and_downloads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run only the set-up and model cells against an empty models folder."""
    from nbclient.exceptions import CellExecutionError

    empty = tmp_path / "no_models"
    empty.mkdir()
    nb = nbformat.read(DEMO, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells = nb.cells[: code[1] + 1]
    monkeypatch.setenv("VECTORVISION_MODELS", str(empty))
    monkeypatch.setenv("PYTHONPATH", _pythonpath())
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(CellExecutionError, match="ModelError"):
        client.execute()
    printed = "".join(o.get("text", "") for o in nb.cells[code[1]].outputs)
    assert "vectorvision fetch-models" in printed and "FETCH_MODELS = True" in printed
    assert list(empty.iterdir()) == [], "the demo must not download without FETCH_MODELS"


def test_demo_runs_without_errors(demo_run: dict) -> None:
    for cell in demo_run["nb"].cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"cell failed: {cell.source[:80]!r}: {errors[0].get('evalue')}"


def test_demo_scans_every_sample_image(demo_run: dict) -> None:
    probe = demo_run["probe"]
    assert probe["failed"] == []
    assert sorted(Path(p).name for p in probe["paths"]) == [p.name for p in sample_images()]
    library_file = Path(probe["library_file"])
    assert library_file.is_relative_to(demo_run["workdir"]), "library must go to the working dir"
    from vectorvision_widget.library.store import Library

    assert Library.load(library_file).paths == probe["paths"]


def test_demo_kmeans_is_a_fixed_point(demo_run: dict) -> None:
    probe = demo_run["probe"]
    X, labels, centres = (np.asarray(probe[k]) for k in ("X", "labels", "centres"))
    assert len(labels) == len(probe["paths"]) and len(np.unique(labels)) > 1
    # every image belongs to its nearest centre, and every centre is the mean of its members
    d2 = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))
    for j in np.unique(labels):
        np.testing.assert_allclose(centres[j], X[labels == j].mean(0), atol=1e-6)
    cells = np.asarray(probe["cells"])
    assert cells.shape == (len(labels), 2)
    assert len({tuple(c) for c in cells.tolist()}) == len(cells), "layout cells must be unique"


def test_demo_search_selects_the_hits_in_the_widget(demo_run: dict, encoders) -> None:
    probe = demo_run["probe"]
    rows = [r for r, _ in probe["hits"]]
    assert len(rows) == 5
    # independent ranking: cosine of the query's text vector against the saved features
    from vectorvision_widget.library.store import Library

    lib = Library.load(probe["library_file"])
    query = np.asarray(encoders.embed_texts([probe["query"]]))[0]
    scores = lib.features @ query
    expected = np.argsort(-scores, kind="stable")[:5]
    np.testing.assert_allclose(sorted(scores[rows]), sorted(scores[expected]), rtol=1e-5)
    assert probe["selected"] == rows
    paths = probe["paths"]
    assert sorted(probe["selected_paths"]) == sorted(paths[r] for r in rows)
    assert probe["read_back"] == probe["selected_paths"]


def test_demo_finds_the_planted_near_duplicate(demo_run: dict) -> None:
    probe = demo_run["probe"]
    names = [Path(p).name for p in probe["paths"]]
    pair = {names.index("cat_chelsea.jpg"), names.index("cat_chelsea_crop.jpg")}
    groups = [set(g) for tier in probe["duplicates"].values() for g in tier]
    assert any(pair <= g for g in groups), f"duplicates missed the crop: {probe['duplicates']}"


def test_demo_hybrid_extremes_match_the_pure_spaces(demo_run: dict) -> None:
    """Weight 0 and 1 of the hybrid comparison are the pure visual and semantic neighbours."""
    from vectorvision_widget.library.store import Library

    probe = demo_run["probe"]
    neighbours, row = probe["neighbours"], probe["row"]
    assert set(neighbours) == {"0.0", "0.25", "0.5", "0.75", "1.0"}
    k = len(neighbours["0.5"])
    assert k == min(5, len(probe["paths"]) - 1)
    lib = Library.load(probe["library_file"])

    def nearest(M: np.ndarray) -> list[int]:
        scores = M @ M[row]
        scores[row] = -np.inf
        return sorted(np.argsort(-scores, kind="stable")[:k].tolist())

    pure = {tuple(nearest(lib.visual_features)), tuple(nearest(lib.features))}
    extremes = {tuple(sorted(neighbours["0.0"])), tuple(sorted(neighbours["1.0"]))}
    assert extremes == pure


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
