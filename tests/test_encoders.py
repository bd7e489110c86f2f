"""Encoders on the tiny models: values, batching, inputs, providers, and every load error."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image
from tiny_models import (
    COLOURS,
    TinyModels,
    build_wrong_rank_dinov2,
    rename_output,
    truncate_file,
    write_manifest,
    write_not_onnx,
)

from vectorvision_widget import ModelError
from vectorvision_widget.images.decode import ImageDecodeError
from vectorvision_widget.models.encoders import (
    CPU,
    CUDA,
    Encoders,
    choose_providers,
    physical_cores,
)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pictures(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        out.append(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        if i % 3 == 0:  # some flat colours, some layouts
            out[-1] = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
    return out


@pytest.fixture
def models_copy(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny models folder that a test may break."""
    return Path(shutil.copytree(tiny_models_dir, tmp_path / "models"))


# --- values ------------------------------------------------------------------------------------


def test_dims_come_from_the_models(encoders: Encoders, tiny_models: TinyModels) -> None:
    assert encoders.feature_dim == tiny_models.feature_dim == 32
    assert encoders.visual_dim == tiny_models.visual_dim == 24
    prov = encoders.provenance()
    assert prov["features"]["dim"] == 32 and prov["visualFeatures"]["dim"] == 24
    sha = hashlib.sha256((tiny_models.folder / "siglip_vision.onnx").read_bytes()).hexdigest()
    assert prov["features"]["sha256"] == sha
    assert prov["visualFeatures"]["name"] == "dinov2_small.onnx"


def test_embeddings_are_the_models_outputs_normalised(
    encoders: Encoders, tiny_models: TinyModels
) -> None:
    pics = _pictures(5)
    feats, visual = encoders.embed_images(pics)
    assert feats.dtype == np.float32 and visual.dtype == np.float32
    assert feats.shape == (5, 32) and visual.shape == (5, 24)
    tensors = [encoders.preprocess_image(p) for p in pics]
    sig = np.stack([t[0] for t in tensors])
    dino = np.stack([t[1] for t in tensors])
    np.testing.assert_allclose(feats, _unit(tiny_models.expected_features(sig)), atol=1e-5)
    np.testing.assert_allclose(visual, _unit(tiny_models.expected_visual(dino)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(visual, axis=1), 1, atol=1e-6)


def test_batched_equals_one_by_one(tiny_models_dir: Path) -> None:
    pics = _pictures(7, seed=3)
    enc = Encoders.load(tiny_models_dir, batch_size=3)
    feats, visual = enc.embed_images(pics)
    singles = [enc.embed_images([p]) for p in pics]
    np.testing.assert_allclose(feats, np.concatenate([s[0] for s in singles]), atol=1e-6)
    np.testing.assert_allclose(visual, np.concatenate([s[1] for s in singles]), atol=1e-6)
    empty_f, empty_v = enc.embed_images([])
    assert empty_f.shape == (0, 32) and empty_v.shape == (0, 24)


def test_path_str_and_pil_give_the_same_vectors(encoders: Encoders, tmp_path: Path) -> None:
    path = tmp_path / "pic.jpg"
    _pictures(2, seed=5)[1].save(path, quality=90)
    with Image.open(path) as img:
        as_pil = encoders.embed_images([img])
    for source in (path, str(path)):
        got = encoders.embed_images([source])
        np.testing.assert_array_equal(got[0], as_pil[0])
        np.testing.assert_array_equal(got[1], as_pil[1])
    single = encoders.embed_images(path)  # one item without a list
    np.testing.assert_array_equal(single[0], as_pil[0])


def test_similar_images_are_closer_than_different_ones(encoders: Encoders) -> None:
    base = np.zeros((120, 160, 3), np.uint8)
    base[:60] = (30, 90, 220)  # sky over grass
    base[60:] = (40, 160, 40)
    near = base.copy()
    near[100:110, 10:20] = (250, 250, 250)
    far = np.full_like(base, (230, 40, 30))
    f, v = encoders.embed_images([Image.fromarray(a) for a in (base, near, far)])
    for x in (f, v):
        assert x[0] @ x[1] > x[0] @ x[2]


def test_bad_image_names_the_file(encoders: Encoders, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        encoders.embed_images([Image.new("RGB", (9, 9)), tmp_path / "broken.jpg"])


def test_encode_pixels_checks_batch_lengths(encoders: Encoders) -> None:
    with pytest.raises(ValueError, match="differ"):
        encoders.encode_pixels(np.zeros((2, 3, 224, 224)), np.zeros((1, 3, 224, 224)))


# --- text --------------------------------------------------------------------------------------


def test_tokens_are_padded_and_truncated_to_64_with_id_1(
    encoders: Encoders, tiny_models: TinyModels
) -> None:
    ids = encoders.tokenize(["A red, car!", " ".join(["cat"] * 100)])
    assert ids.dtype == np.int64 and ids.shape == (2, 64)
    v = tiny_models.vocab
    assert ids[0, :4].tolist() == [v["a"], v["red"], v["car"], v["</s>"]]
    assert (ids[0, 4:] == 1).all() and v["</s>"] == 1
    assert (ids[1, :63] == v["cat"]).all() and ids[1, 63] == 1  # truncated, eos kept


def test_text_embeddings_match_the_model_and_find_colours(
    encoders: Encoders, tiny_models: TinyModels
) -> None:
    texts = ["a red car", "This is a photo of blue.", "zzz unknown words"]
    got = encoders.embed_texts(texts)
    assert got.shape == (3, 32) and got.dtype == np.float32
    table = tiny_models.token_embeddings
    want = [table[encoders.tokenize([t])[0]].mean(axis=0) for t in texts]
    np.testing.assert_allclose(got, _unit(np.array(want)), atol=1e-5)
    np.testing.assert_array_equal(encoders.embed_texts("a red car")[0], got[0])
    assert encoders.embed_texts([]).shape == (0, 32)
    # every colour word retrieves the uniform image of its own colour first
    names = list(COLOURS)
    feats, _ = encoders.embed_images([Image.new("RGB", (50, 50), COLOURS[n]) for n in names])
    best = (encoders.embed_texts(names) @ feats.T).argmax(axis=1)
    assert [names[i] for i in best] == names


# --- providers and threads ---------------------------------------------------------------------


def test_providers_default_to_what_is_available(
    encoders: Encoders, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = Encoders.load(encoders.folder)
    enc.embed_texts(["x"])  # creates a session: providers are then the session's own
    assert enc.providers[-1] == CPU
    assert set(enc.providers) <= set(ort.get_available_providers())
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    assert choose_providers() == [CUDA, CPU]
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    assert choose_providers() == [CPU]
    assert enc.threads == physical_cores() >= 1


def test_requested_cuda_falls_back_to_cpu(
    tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    with pytest.warns(
        RuntimeWarning, match="CUDAExecutionProvider is not available.*onnxruntime-gpu"
    ):
        enc = Encoders.load(tiny_models_dir, providers=["cuda"])
    assert enc.providers == [CPU]
    assert enc.embed_texts(["red"]).shape == (1, 32)
    assert enc.providers == [CPU]


def test_unknown_provider_lists_the_valid_ones(tiny_models_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown onnxruntime provider 'TPUProvider'.*CPUExec"):
        Encoders.load(tiny_models_dir, providers=["TPUProvider"])


def test_load_creates_no_session(tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vectorvision_widget.models.encoders as encoders_module

    made: list[str] = []
    real = encoders_module.create_session

    def spy(path: Path, *a: Any, **k: Any) -> Any:
        made.append(path.name)
        return real(path, *a, **k)

    monkeypatch.setattr(encoders_module, "create_session", spy)
    enc = Encoders.load(tiny_models_dir)
    assert made == [] and enc.feature_dim == 32  # dims from the graph header, not a run
    enc.embed_texts(["cat"])
    assert made == ["siglip_text.onnx"]


# --- load errors -------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere does not exist.*vectorvision fetch-models"):
        Encoders.load(tmp_path / "nowhere")


def test_missing_file_is_named(models_copy: Path) -> None:
    (models_copy / "siglip_text.onnx").unlink()
    (models_copy / "siglip_tokenizer.json").unlink()
    with pytest.raises(
        ModelError, match=r"lacks siglip_text.onnx, siglip_tokenizer.json.*fetch-models"
    ):
        Encoders.load(models_copy)


@pytest.mark.parametrize("name", ["dinov2_small.onnx", "siglip_vision.onnx", "siglip_text.onnx"])
@pytest.mark.parametrize("damage", [truncate_file, write_not_onnx, lambda p: p.write_bytes(b"")])
def test_corrupt_model_fails_at_load(models_copy: Path, name: str, damage: object) -> None:
    damage(models_copy / name)  # type: ignore[operator]
    with pytest.raises(ModelError, match=rf"{name} is not a readable ONNX model.*--force"):
        Encoders.load(models_copy)


def test_corrupt_tokenizer_fails_at_load(models_copy: Path) -> None:
    (models_copy / "siglip_tokenizer.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"siglip_tokenizer\.json is not a readable tokenizer"):
        Encoders.load(models_copy)


def test_wrong_output_name_says_expected_and_found(models_copy: Path) -> None:
    rename_output(models_copy / "siglip_vision.onnx", "pooler_output", "image_embeds")
    with pytest.raises(ModelError) as err:
        Encoders.load(models_copy)
    msg = str(err.value)
    assert "siglip_vision.onnx" in msg and "expected output 'pooler_output'" in msg
    assert "found outputs: last_hidden_state" in msg and "image_embeds" in msg


def test_wrong_rank_says_expected_and_found(models_copy: Path) -> None:
    build_wrong_rank_dinov2(models_copy / "dinov2_small.onnx")
    want = (
        r"dinov2_small\.onnx.*expected output 'last_hidden_state' tensor\(float\) of rank 3, "
        r"found outputs: last_hidden_state tensor\(float\) \['batch_size', 24\]"
    )
    with pytest.raises(ModelError, match=want):
        Encoders.load(models_copy)


def test_text_model_with_float_ids_is_refused(models_copy: Path) -> None:
    model = onnx.load(str(models_copy / "siglip_text.onnx"))
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.save(model, str(models_copy / "siglip_text.onnx"))
    with pytest.raises(ModelError, match=r"expected input 'input_ids' tensor\(int64\)"):
        Encoders.load(models_copy)


def test_sha_mismatch_against_manifest(models_copy: Path) -> None:
    manifest = write_manifest(models_copy)
    enc = Encoders.load(models_copy)  # a correct manifest loads, and supplies provenance
    sha = json.loads(manifest.read_text())["files"]["dinov2_small.onnx"]["sha256"]
    assert enc.provenance()["visualFeatures"]["sha256"] == sha
    data = json.loads(manifest.read_text())
    data["files"]["siglip_text.onnx"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"siglip_text.onnx: sha256 mismatch"):
        Encoders.load(models_copy)


def test_model_onnxruntime_rejects_fails_with_model_error(models_copy: Path) -> None:
    # right header, nonsense graph: passes load(), fails on first use with a ModelError
    inp = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", 64])
    shapes = {"last_hidden_state": ["b", 64, 32], "pooler_output": ["b", 32]}
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in shapes.items()]
    nodes = [helper.make_node("NoSuchOp", ["input_ids"], ["last_hidden_state", "pooler_output"])]
    model = helper.make_model(helper.make_graph(nodes, "bad", [inp], outs))
    onnx.save(model, str(models_copy / "siglip_text.onnx"))
    enc = Encoders.load(models_copy)
    with pytest.raises(ModelError, match=r"siglip_text\.onnx could not be loaded by onnxruntime"):
        enc.embed_texts(["red"])


# --- the GPU path (no GPU here: onnxruntime is faked where CUDA must appear) --------------------


def test_cuda_sessions_get_cuda_options_bigger_batches_and_all_decode_cores(
    tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.models.runtime as runtime

    made: list[list] = []

    class FakeSession:
        def __init__(self, path: str, sess_options: object, providers: list) -> None:
            made.append(providers)

        def get_providers(self) -> list[str]:
            return [CUDA, CPU]

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    enc = Encoders.load(tiny_models_dir)
    assert enc.batch_size == 64  # GPU default; CPU keeps 16 (below)
    enc._session(enc.look.model)
    assert made == [[(CUDA, runtime.CUDA_OPTIONS), CPU]]
    assert enc.providers == [CUDA, CPU]  # what the session got, reported back
    assert enc.decode_workers == physical_cores()
    assert runtime.recommended_variant(enc.providers) == "fp16"
    assert runtime.recommended_variant([CPU]) == "quantized"


def test_cpu_defaults(encoders: Encoders) -> None:
    assert encoders.batch_size == 16
    encoders.embed_texts(["red"])  # a real session exists now
    assert encoders.providers == [CPU]
    assert 1 <= encoders.decode_workers <= 4


def test_decode_limits_are_configurable_at_load(tiny_models_dir: Path, tmp_path: Path) -> None:
    Image.new("RGB", (1200, 1000), (10, 20, 30)).save(tmp_path / "big.png")
    strict = Encoders.load(tiny_models_dir, pixel_budget=1_000_000)
    with pytest.raises(ImageDecodeError, match="decode budget of 1,000,000"):
        strict.embed_images([tmp_path / "big.png"])
    assert Encoders.load(tiny_models_dir, pixel_budget=None).embed_images([tmp_path / "big.png"])[
        0
    ].shape == (1, 32)


def test_int8_files_on_cuda_get_a_hint(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(shutil.copytree(tiny_models_dir, tmp_path / "m"))
    write_manifest(folder)
    doc = json.loads((folder / "manifest.json").read_text())
    for entry in doc["files"].values():
        entry["variant"] = "quantized"
    (folder / "manifest.json").write_text(json.dumps(doc))
    Encoders.load(folder)  # CPU: int8 is the right choice, no warning
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    with pytest.warns(RuntimeWarning, match="--variant fp16"):
        Encoders.load(folder)


@pytest.mark.parametrize("manifest", [False, True])
def test_a_model_file_replaced_after_load_is_refused_not_mixed(
    tmp_path: Path, manifest: bool
) -> None:
    from tiny_models import build_tiny_models

    folder = tmp_path / "models"
    build_tiny_models(folder, seed=1, manifest=manifest)
    enc = Encoders.load(folder)
    before = enc.provenance()["visualFeatures"]["sha256"]  # what a library will record
    other = build_tiny_models(tmp_path / "other", seed=2)  # same shapes, other weights
    shutil.copyfile(other.folder / "dinov2_small.onnx", folder / "dinov2_small.onnx")
    img = Image.new("RGB", (40, 30), (200, 30, 30))
    with pytest.raises(ModelError, match=r"dinov2_small\.onnx changed since the encoders"):
        enc.embed_images([img])
    assert enc.provenance()["visualFeatures"]["sha256"] == before
    if manifest:  # the manifest still promises the old file: a new load says so
        with pytest.raises(ModelError, match="sha256 mismatch"):
            Encoders.load(folder)
        return
    fresh = Encoders.load(folder)  # loading again takes the new file, under its own hash
    assert fresh.provenance()["visualFeatures"]["sha256"] != before
    assert fresh.embed_images([img])[1].shape == (1, other.visual_dim)
