"""Downloading the models from the Hugging Face hub: resumable, verified, atomic.

This is the only module that talks to the network; `huggingface_hub` is imported only when a fetch
runs, so nothing else in the package (and no test) can download by accident.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from .errors import ModelError
from .models import (
    _CHUNK,
    _SHA256_RE,
    ENV_MODELS_DIR,
    MANIFEST_FILENAME,
    MANIFEST_FORMAT,
    RemoteFile,
    _check_variant,
    file_sha256,
    read_manifest,
    remote_files,
    resolve_models_dir,
)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def _record(folder: Path, item: RemoteFile, sha256: str, size: int) -> None:
    """Add one file to manifest.json right after it lands, so the manifest never lies."""
    try:
        manifest = read_manifest(folder) or {}
    except ModelError:
        manifest = {}  # a corrupt manifest is rewritten by the fetch that replaces its files
    files = dict(manifest.get("files", {}))
    files[item.filename] = {"repo": item.repo, "revision": item.revision, "path": item.path,
                            "variant": item.variant, "sha256": sha256, "size": size}  # fmt: skip
    doc = {"format": MANIFEST_FORMAT, "version": 1, "files": files}
    _atomic_write_bytes(folder / MANIFEST_FILENAME, json.dumps(doc, indent=2).encode() + b"\n")


# --- the fetch (the only code in the package that downloads) -----------------------------------


class _Unreachable(Exception):
    """The hub could not be reached; fetch_models turns it into a ModelError listing every file."""


def fetch_models(
    variant: str = "quantized",
    models_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download the four model files of `variant` into the models folder and return the folder.

    Resumable: a file already there with the expected sha256 is kept (unless `force`), and
    huggingface_hub resumes interrupted downloads in `<folder>/.download`. Atomic: each file is
    copied to `<name>.part`, fsynced, verified, then renamed, so a crash never leaves a half file
    under a final name. manifest.json records each file as soon as it lands.
    """
    _check_variant(variant)
    plan = remote_files(variant)
    folder = resolve_models_dir(models_dir).absolute()
    if folder.exists() and not folder.is_dir():
        msg = f"models folder {folder} is a file; pass another --models-dir"
        raise ModelError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / ".download"
    bar = tqdm(total=len(plan), unit="file", desc=f"models ({variant})", disable=not progress)
    try:
        for item in plan:
            bar.set_postfix_str(item.filename)
            _fetch_one(item, folder, staging, force=force, progress=progress)
            bar.update(1)
    except _Unreachable as exc:
        listing = "; ".join(f"{f.filename} <- {f.url}" for f in plan)
        msg = (
            f"could not reach the Hugging Face hub ({exc.__cause__ or exc}); copy the files by "
            f"hand into {folder}: {listing} (or set {ENV_MODELS_DIR} to a folder that has them)"
        )
        raise ModelError(msg) from exc.__cause__
    finally:
        bar.close()
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def _fetch_one(
    item: RemoteFile, folder: Path, staging: Path, *, force: bool, progress: bool
) -> None:
    target = folder / item.filename
    expected = item.sha256 or _hub_sha256(item)  # pinned, else what the hub reports (LFS)
    if not force and expected and target.is_file() and file_sha256(target) == expected:
        _record(folder, item, expected, target.stat().st_size)
        return
    downloaded = _download(item, staging, progress=progress)
    part = target.with_name(target.name + ".part")
    try:
        got, size = _copy_hashing(downloaded, part)
        if expected and got != expected:
            _discard(downloaded, staging)  # else the hub client would hand back the bad file again
            msg = (
                f"{item.filename} ({item.repo}/{item.path} @ {item.revision[:12]}): sha256 "
                f"mismatch: expected {expected}, got {got}; the download was removed, re-run "
                "`vectorvision fetch-models` (or copy the file by hand from " + item.url + ")"
            )
            raise ModelError(msg)
        os.replace(part, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    _discard(downloaded, staging)
    _record(folder, item, got, size)


def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors as hf_errors

    # OSError covers requests' errors (old hubs); HTTPError is the newer hubs' httpx base error.
    return (OSError, getattr(hf_errors, "HTTPError", OSError))


def _download(item: RemoteFile, staging: Path, *, progress: bool) -> Path:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    gone = (
        hf_errors.RepositoryNotFoundError,
        hf_errors.RevisionNotFoundError,
        getattr(hf_errors, "RemoteEntryNotFoundError", hf_errors.EntryNotFoundError),
    )
    try:
        with _hub_progress(progress):
            path = huggingface_hub.hf_hub_download(
                item.repo, item.path, revision=item.revision, local_dir=staging
            )
    except hf_errors.LocalEntryNotFoundError as exc:  # offline: raised before the 404 classes
        raise _Unreachable() from exc
    except gone as exc:
        msg = (
            f"the Hugging Face hub has no {item.path} at revision {item.revision} of {item.repo} "
            f"({type(exc).__name__}); copy {item.filename} by hand into {staging.parent}"
        )
        raise ModelError(msg) from exc
    except _network_errors() as exc:
        raise _Unreachable() from exc
    return Path(path)


def _hub_sha256(item: RemoteFile) -> str | None:
    """The sha256 the hub reports for an LFS file (its etag), or None for small git files."""
    import huggingface_hub

    url = huggingface_hub.hf_hub_url(item.repo, item.path, revision=item.revision)
    try:
        meta = huggingface_hub.get_hf_file_metadata(url)
    except _network_errors() as exc:
        raise _Unreachable() from exc
    etag = (meta.etag or "").strip('"').lower()
    return etag if _SHA256_RE.match(etag) else None


@contextlib.contextmanager
def _hub_progress(enabled: bool) -> Iterator[None]:
    """Silence huggingface_hub's own byte bars when the caller asked for no progress."""
    from huggingface_hub import utils as hf_utils

    toggle = not enabled and not hf_utils.are_progress_bars_disabled()
    if toggle:
        hf_utils.disable_progress_bars()
    try:
        yield
    finally:
        if toggle:
            hf_utils.enable_progress_bars()


def _copy_hashing(src: Path, dst: Path) -> tuple[str, int]:
    """Copy src to dst, fsync it, and return (sha256, size) from the same single read."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest(), size


def _discard(downloaded: Path, staging: Path) -> None:
    """Remove a staged download, but never a file outside our staging folder (e.g. a hub cache)."""
    if staging.absolute() in downloaded.absolute().parents:
        with contextlib.suppress(OSError):
            downloaded.unlink()
