"""manifest.json of a models folder: which models it holds, each file's sha256, and hashing.

Why a manifest: a models folder is the provenance of every vector in a library. The fetch records
each file as it lands (repo, revision, path, variant, sha256, size) and which model it chose per
role; `Encoders.load` reads the selection to know which specs apply and holds every file to its
recorded hash. A folder without a manifest (copied by hand) holds the default models.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from vectorvision_widget.atomicfile import atomic_write_bytes
from vectorvision_widget.errors import ModelError
from vectorvision_widget.filehash import file_sha256
from vectorvision_widget.models.specs import (
    DEFAULT_SEMANTIC,
    DEFAULT_VISUAL,
    RemoteFile,
    resolve_models_dir,
)

MANIFEST_FILENAME = "manifest.json"
MANIFEST_FORMAT = "vectorvision-models"
_sha_cache: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """file_sha256, remembered per (path, size, mtime) so reloading encoders stays cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        _sha_cache[key] = file_sha256(path)
    return _sha_cache[key]


def read_manifest(models_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The folder's manifest.json as `{"format", "version", "files": {filename: entry}, ...}`.

    None when there is no manifest (hand-copied models are fine). Each entry has repo, revision,
    path, variant, sha256, size; "models" (when present) maps role -> model name. Raises ModelError
    naming the file when it cannot be used.
    """
    return load_manifest(resolve_models_dir(models_dir))


def load_manifest(folder: Path) -> dict[str, Any] | None:
    """`read_manifest` of a folder already resolved (`resolve_models_dir`): one read of its
    manifest.json; `Encoders.load` reads it once and hands the result on."""
    path = folder / MANIFEST_FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = (
            f"{path} is not readable JSON ({exc}); delete it or re-run `vectorvision fetch-models`"
        )
        raise ModelError(msg) from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        msg = f"{path} has no 'files' table; delete it or re-run `vectorvision fetch-models`"
        raise ModelError(msg)
    models = data.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        msg = f"{path} has a malformed 'models' table; re-run `vectorvision fetch-models`"
        raise ModelError(msg)
    zero_shot = data.get("zero_shot", {})
    if not isinstance(zero_shot, dict) or not all(_is_calibration(v) for v in zero_shot.values()):
        msg = f"{path} has a malformed 'zero_shot' table; re-run `vectorvision fetch-models`"
        raise ModelError(msg)
    return data


def _is_calibration(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    values = (entry.get("logit_scale"), entry.get("logit_bias"))
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def calibration(manifest: dict[str, Any] | None, semantic: str) -> tuple[float, float] | None:
    """(logit_scale, logit_bias) the fetch read from `semantic`'s checkpoint, if it did."""
    entry = ((manifest or {}).get("zero_shot") or {}).get(semantic)
    if entry is None:
        return None
    return float(entry["logit_scale"]), float(entry["logit_bias"])


def selection(manifest: dict[str, Any] | None) -> tuple[str, str]:
    """(visual, semantic) model names a manifest records; the defaults where it names none."""
    models = (manifest or {}).get("models") or {}
    return models.get("visual", DEFAULT_VISUAL), models.get("semantic", DEFAULT_SEMANTIC)


def _write(folder: Path, manifest: dict[str, Any]) -> None:
    doc = {"format": MANIFEST_FORMAT, "version": 1, "files": manifest.get("files", {})}
    for key in ("models", "zero_shot"):
        if manifest.get(key):
            doc[key] = manifest[key]
    atomic_write_bytes(folder / MANIFEST_FILENAME, json.dumps(doc, indent=2).encode() + b"\n")


def _current(folder: Path) -> dict[str, Any]:
    try:
        return read_manifest(folder) or {}
    except ModelError:
        return {}  # a corrupt manifest is rewritten by the fetch that replaces its files


def record_file(folder: Path, item: RemoteFile, sha256: str, size: int, revision: str) -> None:
    """Add one file to manifest.json right after it lands, so the manifest never lies."""
    manifest = _current(folder)
    files = dict(manifest.get("files", {}))
    files[item.filename] = {
        "repo": item.repo,
        "revision": revision,
        "path": item.path,
        "variant": item.variant,
        "sha256": sha256,
        "size": size,
    }
    _write(folder, {**manifest, "files": files})


def record_selection(folder: Path, visual: str, semantic: str) -> None:
    """Record which model the folder holds per role (after all of its files landed)."""
    manifest = _current(folder)
    _write(folder, {**manifest, "models": {"visual": visual, "semantic": semantic}})


def record_calibration(folder: Path, semantic: str, values: dict[str, Any]) -> None:
    """Record the zero-shot logit scale/bias read from `semantic`'s original checkpoint."""
    manifest = _current(folder)
    table = {**(manifest.get("zero_shot") or {}), semantic: dict(values)}
    _write(folder, {**manifest, "zero_shot": table})


def verify_against_manifest(models_dir: str | os.PathLike[str] | None, filename: str) -> str:
    """sha256 of `filename` in the models folder, checked against the manifest where it has one.

    Without a manifest (or an entry for the file) the hash is only computed, for provenance.
    """
    folder = resolve_models_dir(models_dir)
    return verify_file(folder, filename, load_manifest(folder))


def verify_file(folder: Path, filename: str, manifest: dict[str, Any] | None) -> str:
    """`verify_against_manifest` with the folder resolved and its manifest already read."""
    path = folder / filename
    if not path.is_file():
        msg = f"{path} is missing; run `vectorvision fetch-models` or copy the file into {folder}"
        raise ModelError(msg)
    got = cached_sha256(path)
    entry = (manifest or {"files": {}})["files"].get(filename)
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if expected and expected != got:
        msg = (
            f"{path}: sha256 mismatch: manifest says {expected}, file has {got}; "
            "re-run `vectorvision fetch-models` (or delete manifest.json if you replaced the file "
            "on purpose)"
        )
        raise ModelError(msg)
    return got
