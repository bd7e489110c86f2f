"""Model specs, locating the models folder, hashing and the manifest helpers the encoders use."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import vectorvision_widget.models.manifest as manifest
import vectorvision_widget.models.specs as models
from vectorvision_widget import filehash
from vectorvision_widget.errors import ModelError

HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- specs ---------------------------------------------------------------------------------------


def test_specs_are_frozen_and_repo_files_read_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        models.DINOV2_SMALL.filename = "other.onnx"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        models.SIGLIP_TOKENIZER.max_length = 77  # type: ignore[misc]
    with pytest.raises(TypeError):
        models.SIGLIP_VISION.repo_files["fp32"] = "elsewhere.onnx"  # type: ignore[index]


@pytest.mark.parametrize("spec", models.MODEL_SPECS, ids=lambda s: s.filename)
def test_every_variant_has_a_pinned_onnx_file(spec: models.ModelSpec) -> None:
    assert HEX40.match(spec.revision), "revisions are pinned to a commit, not a branch"
    paths = {spec.repo_file(v) for v in models.VARIANTS}
    assert len(paths) == len(models.VARIANTS)  # three different files
    assert all(p.startswith("onnx/") and p.endswith(".onnx") for p in paths)
    assert "quantized" in spec.repo_file("quantized")
    assert "fp16" in spec.repo_file("fp16")
    for v in models.VARIANTS:
        sha = spec.sha256_for(v)
        assert sha is None or HEX64.match(sha)
    assert spec.sha256_for("quantized") is not None  # the default variant is always verifiable


def test_spec_io_contract_matches_models_md() -> None:
    dino, vision, text = models.DINOV2_SMALL, models.SIGLIP_VISION, models.SIGLIP_TEXT
    pixels = ("pixel_values", "tensor(float)", 4)
    assert [(t.name, t.dtype, t.rank) for t in dino.inputs] == [pixels]
    assert [(t.name, t.dtype, t.rank) for t in vision.inputs] == [pixels]
    assert dino.embedding_output == "last_hidden_state" and dino.cls_token
    assert vision.embedding_output == "pooler_output" and not vision.cls_token
    assert [(t.name, t.dtype, t.rank) for t in text.inputs] == [("input_ids", "tensor(int64)", 2)]
    assert text.preprocess is None
    tok = models.SIGLIP_TOKENIZER
    assert (tok.filename, tok.max_length, tok.pad_id) == ("siglip_tokenizer.json", 64, 1)
    assert models.SIGLIP_ZERO_SHOT.prompt.format(label="a cat") == "This is a photo of a cat."


def test_preprocess_output_size() -> None:
    dino = models.DINOV2_SMALL.preprocess
    siglip = models.SIGLIP_VISION.preprocess
    assert dino is not None and siglip is not None
    assert (dino.resize, dino.size, dino.crop, dino.output_size) == ("shortest_edge", 256, 224, 224)
    assert (siglip.resize, siglip.crop, siglip.output_size) == ("exact", None, 224)
    assert siglip.mean == siglip.std == (0.5, 0.5, 0.5)


def test_spec_validation_rejects_incomplete_specs() -> None:
    base = models.DINOV2_SMALL
    with pytest.raises(ValueError, match="missing"):
        dataclasses.replace(base, repo_files={"fp32": "onnx/model.onnx"})
    with pytest.raises(ValueError, match="bad sha"):
        dataclasses.replace(base, sha256=(("fp32", "not-a-sha"),))
    with pytest.raises(ValueError, match="resize"):
        models.Preprocess("stretch", 224, None, (0.5,) * 3, (0.5,) * 3)


def test_unknown_variant_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="quantized, fp32, fp16"):
        models.remote_files("int4")
    with pytest.raises(ValueError, match="int4"):
        models.SIGLIP_TEXT.repo_file("int4")


@pytest.mark.parametrize("variant", models.VARIANTS)
def test_remote_files_follow_the_design_layout(variant: str) -> None:
    files = models.remote_files(variant)
    assert [f.filename for f in files] == [
        "dinov2_small.onnx",
        "siglip_vision.onnx",
        "siglip_text.onnx",
        "siglip_tokenizer.json",
    ]
    for f, spec in zip(files, models.MODEL_SPECS, strict=False):
        assert (f.repo, f.path, f.variant) == (spec.repo, spec.repo_file(variant), variant)
        assert f.url == f"https://huggingface.co/{f.repo}/resolve/{f.revision}/{f.path}"
    tokenizer = files[-1]
    assert tokenizer.variant is None and tokenizer.path == "tokenizer.json"


# --- resolve_models_dir ------------------------------------------------------------------------


def test_resolve_models_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(models.ENV_MODELS_DIR, raising=False)
    assert models.resolve_models_dir() == Path("models")
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(tmp_path / "from_env"))
    assert models.resolve_models_dir() == tmp_path / "from_env"
    assert models.resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert models.resolve_models_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    monkeypatch.setenv(models.ENV_MODELS_DIR, "")  # empty means unset
    assert models.resolve_models_dir() == Path("models")


def test_resolve_models_dir_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models.resolve_models_dir("~/m") == tmp_path / "m"
    monkeypatch.setenv(models.ENV_MODELS_DIR, "~/env_m")
    assert models.resolve_models_dir() == tmp_path / "env_m"


# --- hashing and the manifest ------------------------------------------------------------------


def test_file_sha256_streams_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(filehash.CHUNK * 2 + 12345)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert filehash.file_sha256(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert filehash.file_sha256(str(empty)) == hashlib.sha256(b"").hexdigest()


def _write_manifest(folder: Path, files: dict[str, dict[str, object]]) -> None:
    doc = {"format": manifest.MANIFEST_FORMAT, "version": 1, "files": files}
    (folder / manifest.MANIFEST_FILENAME).write_text(json.dumps(doc))


def test_read_manifest_absent_valid_and_corrupt(tmp_path: Path) -> None:
    assert manifest.read_manifest(tmp_path) is None
    _write_manifest(tmp_path, {"a.onnx": {"sha256": "0" * 64}})
    doc = manifest.read_manifest(tmp_path)
    assert doc is not None and doc["files"]["a.onnx"]["sha256"] == "0" * 64

    (tmp_path / "manifest.json").write_text('{"files": {"a.onnx": ')  # truncated
    with pytest.raises(ModelError, match=r"manifest\.json.*fetch-models"):
        manifest.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"manifest\.json has no 'files'"):
        manifest.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelError, match=r"manifest\.json"):
        manifest.read_manifest(tmp_path)


def test_verify_against_manifest(tmp_path: Path) -> None:
    data = b"onnx bytes " * 1000
    (tmp_path / "siglip_text.onnx").write_bytes(data)
    real = hashlib.sha256(data).hexdigest()

    # no manifest: the hash is computed for provenance
    assert manifest.verify_against_manifest(tmp_path, "siglip_text.onnx") == real
    # manifest agrees
    _write_manifest(tmp_path, {"siglip_text.onnx": {"sha256": real}})
    assert manifest.verify_against_manifest(tmp_path, "siglip_text.onnx") == real
    # manifest without an entry for this file
    _write_manifest(tmp_path, {"other.onnx": {"sha256": "1" * 64}})
    assert manifest.verify_against_manifest(tmp_path, "siglip_text.onnx") == real
    # manifest disagrees
    _write_manifest(tmp_path, {"siglip_text.onnx": {"sha256": "a" * 64}})
    with pytest.raises(ModelError) as info:
        manifest.verify_against_manifest(tmp_path, "siglip_text.onnx")
    message = str(info.value)
    assert "siglip_text.onnx" in message and "a" * 64 in message and real in message
    assert "vectorvision fetch-models" in message


def test_verify_notices_a_file_changed_after_it_was_hashed(tmp_path: Path) -> None:
    path = tmp_path / "dinov2_small.onnx"
    path.write_bytes(b"first")
    first = hashlib.sha256(b"first").hexdigest()
    _write_manifest(tmp_path, {"dinov2_small.onnx": {"sha256": first}})
    assert manifest.verify_against_manifest(tmp_path, "dinov2_small.onnx") == first
    path.write_bytes(b"second, longer")  # size changes, so the cached hash must not be reused
    with pytest.raises(ModelError, match="sha256 mismatch"):
        manifest.verify_against_manifest(tmp_path, "dinov2_small.onnx")


def test_verify_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"siglip_vision\.onnx is missing.*fetch-models"):
        manifest.verify_against_manifest(tmp_path, "siglip_vision.onnx")


# --- the registry and the manifest's selection --------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [*models.VISUAL_MODELS.values(), *models.SEMANTIC_MODELS.values()],
    ids=lambda m: m.name,
)
def test_registry_models_have_distinct_files_and_honest_pins(model: Any) -> None:
    specs = [model.model] if isinstance(model, models.VisualModel) else [model.vision, model.text]
    for spec in specs:
        assert spec.revision is None or HEX40.match(spec.revision)
        for v in models.VARIANTS:
            sha = spec.sha256_for(v)
            assert sha is None or HEX64.match(sha)  # None = checked against the hub at fetch
    names = [
        f
        for m in (*models.VISUAL_MODELS.values(), *models.SEMANTIC_MODELS.values())
        for f in m.files
    ]
    assert len(names) == len(set(names)), "two models would overwrite each other's files"


def test_remote_files_follow_the_selection() -> None:
    default = models.remote_files("fp32")
    assert [f.filename for f in default] == [
        "dinov2_small.onnx",
        "siglip_vision.onnx",
        "siglip_text.onnx",
        "siglip_tokenizer.json",
    ]
    other = models.remote_files("fp32", visual="dinov2-base", semantic="siglip-large")
    assert other[0].repo == "onnx-community/dinov2-base" and other[0].sha256 == (
        "320d1012a6fc65b101fc85ca30ee7a47b2e4f6a2e8bd78fb9d7036def0e30cb0"
    )
    assert other[1].revision is None
    assert other[1].url.endswith("/resolve/main/onnx/vision_model.onnx")
    with pytest.raises(ValueError, match="unknown semantic model"):
        models.remote_files(semantic="clip")


def test_selection_reads_the_manifest_or_gives_the_defaults(tmp_path: Path) -> None:
    assert manifest.selection(None) == ("dinov2-small", "siglip-base")
    _write_manifest(tmp_path, {})
    assert manifest.selection(manifest.read_manifest(tmp_path)) == ("dinov2-small", "siglip-base")
    doc = {"format": "x", "files": {}, "models": {"visual": "dinov2-base"}}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    assert manifest.selection(manifest.read_manifest(tmp_path)) == ("dinov2-base", "siglip-base")
    doc["models"] = {"visual": 3}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="malformed 'models'"):
        manifest.read_manifest(tmp_path)
