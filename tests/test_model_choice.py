"""Models beyond the defaults (issue 13): dinov2-base (768-d) and siglip-large (1024-d, 256 px),
chosen per models folder through manifest.json, through the real loading code with tiny models of
those dimensions; the library never mixes vectors of different models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import COLOURS, TinyModels, build_tiny_models

import vectorvision_widget as vv
from vectorvision_widget import ModelError
from vectorvision_widget.models.encoders import Encoders
from vectorvision_widget.models.keywords import KeywordTagger
from vectorvision_widget.models.specs import SIGLIP_ZERO_SHOT, semantic_model, visual_model


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Tiny models of the dims of dinov2-base and siglip-large, and a manifest naming them."""
    return build_tiny_models(
        tmp_path_factory.mktemp("large"),
        feature_dim=1024,
        visual_dim=768,
        visual="dinov2-base",
        semantic="siglip-large",
        manifest=True,
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_registry_offers_two_models_per_role() -> None:
    assert visual_model("dinov2-base").model.published_dim == 768
    assert semantic_model("siglip-large").vision.published_dim == 1024
    assert semantic_model("siglip-large").vision.preprocess.output_size == 256  # type: ignore[union-attr]
    assert semantic_model().zero_shot is SIGLIP_ZERO_SHOT
    assert not semantic_model("siglip-large").zero_shot.calibrated  # not published: no constants
    with pytest.raises(ValueError, match="dinov2-small, dinov2-base"):
        visual_model("dinov3")


def test_the_manifest_selects_the_models_and_their_preprocessing(large: TinyModels) -> None:
    enc = Encoders.load(large.folder)
    assert (enc.look.name, enc.meaning.name) == ("dinov2-base", "siglip-large")
    assert enc.feature_dim == 1024 and enc.visual_dim == 768
    assert enc.decode_size == 256
    pics = [Image.new("RGB", (300, 200), rgb) for rgb in list(COLOURS.values())[:3]]
    pics.append(Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 170, 3), np.uint8)))
    sig, dino = enc.preprocess_image(pics[-1])
    assert sig.shape == (3, 256, 256) and dino.shape == (3, 224, 224)
    feats, visual = enc.embed_images(pics)
    assert feats.shape == (4, 1024) and visual.shape == (4, 768)
    tensors = [enc.preprocess_image(p) for p in pics]
    want_f = large.expected_features(np.stack([t[0] for t in tensors]))
    want_v = large.expected_visual(np.stack([t[1] for t in tensors]))
    np.testing.assert_allclose(feats, _unit(want_f), atol=1e-5)
    np.testing.assert_allclose(visual, _unit(want_v), atol=1e-5)
    assert enc.embed_texts(["a red car", "sea"]).shape == (2, 1024)
    prov = enc.provenance()
    assert prov["features"]["name"] == "siglip_large_vision.onnx"
    assert prov["visualFeatures"]["name"] == "dinov2_base.onnx"
    assert (prov["features"]["dim"], prov["visualFeatures"]["dim"]) == (1024, 768)


def test_without_a_manifest_the_names_are_passed_or_the_defaults_are_missing(
    large: TinyModels, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(large.folder, tmp_path / "m"))
    (folder / "manifest.json").unlink()
    hint = r"lacks siglip_vision\.onnx, dinov2_small\.onnx.*--visual dinov2-small.*"
    hint += "holds dinov2-base, siglip-large: pass visual=/semantic="
    with pytest.raises(ModelError, match=hint):
        Encoders.load(folder)
    enc = Encoders.load(folder, visual="dinov2-base", semantic="siglip-large")
    assert enc.feature_dim == 1024 and enc.visual_dim == 768
    with pytest.raises(ValueError, match="unknown semantic model"):
        Encoders.load(folder, semantic="clip")


def test_a_manifest_naming_an_unknown_model_is_a_clear_error(
    large: TinyModels, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(large.folder, tmp_path / "m"))
    text = (folder / "manifest.json").read_text().replace('"siglip-large"', '"siglip-huge"')
    (folder / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match="siglip-huge"):
        Encoders.load(folder)


def test_the_library_never_mixes_models(
    large: TinyModels, tiny_models_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, rgb in list(COLOURS.items())[:4]:
        Image.new("RGB", (64, 48), rgb).save(folder / f"{name}.png")
    lib = vv.Library()
    small = Encoders.load(tiny_models_dir)
    vv.scan(folder, lib, encoders=small, keywords=["red", "sea"], progress=False)
    assert lib.feature_dim == 32 and lib.visual_dim == 24
    big = Encoders.load(large.folder)
    with pytest.raises(vv.ModelMismatchError):
        vv.scan(folder, lib, encoders=big, keywords=["red", "sea"], progress=False)
    report = vv.scan(folder, lib, encoders=big, force=True, keywords=["red", "sea"], progress=False)
    assert len(report.failed) == 0
    assert lib.feature_dim == 1024 and lib.visual_dim == 768  # re-embedded, not mixed
    assert lib.models["features"]["name"] == "siglip_large_vision.onnx"


def test_zero_shot_calibration_comes_from_the_model_spec(
    large: TinyModels, encoders: Encoders, tmp_path: Path
) -> None:
    labels = ["red", "green", "blue", "sea"]
    base = KeywordTagger(encoders, labels, cache_dir=tmp_path)
    assert base.zero_shot is SIGLIP_ZERO_SHOT
    probs = base.scores(encoders.embed_texts(["red"]))
    assert probs.min() >= 0 and probs.max() <= 1
    big = Encoders.load(large.folder)
    tagger = KeywordTagger(big, labels, cache_dir=tmp_path)
    assert not tagger.zero_shot.calibrated
    red = big.embed_images([Image.new("RGB", (64, 64), COLOURS["red"])])[0]
    cos = tagger.scores(red)
    np.testing.assert_allclose(cos, red @ tagger.embeddings.T, atol=1e-6)  # cosines
    tags = tagger.tag(red)[0]
    assert tags[0]["label"] == "red"
    best = tags[0]["score"]
    assert all(t["score"] >= best - 0.02 - 1e-6 for t in tags)
    assert base.cache_key != tagger.cache_key  # label vectors are cached per text model


def test_calibration_read_at_fetch_time_is_used(large: TinyModels, tmp_path: Path) -> None:
    import json

    folder = Path(shutil.copytree(large.folder, tmp_path / "m"))
    doc = json.loads((folder / "manifest.json").read_text())
    doc["zero_shot"] = {"siglip-large": {"logit_scale": 50.0, "logit_bias": -5.0, "source": "t"}}
    (folder / "manifest.json").write_text(json.dumps(doc))
    enc = Encoders.load(folder)
    assert enc.meaning.zero_shot.calibrated
    assert (enc.meaning.zero_shot.logit_scale, enc.meaning.zero_shot.logit_bias) == (50.0, -5.0)
    tagger = KeywordTagger(enc, ["red", "sea"], cache_dir=tmp_path)
    red = enc.embed_images([Image.new("RGB", (64, 64), COLOURS["red"])])[0]
    cos = red @ tagger.embeddings.T
    np.testing.assert_allclose(tagger.scores(red), 1 / (1 + np.exp(-(50 * cos - 5))), rtol=1e-5)
    doc["zero_shot"]["siglip-large"]["logit_bias"] = "NaN"
    (folder / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="malformed 'zero_shot'"):
        Encoders.load(folder)
