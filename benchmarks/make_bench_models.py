"""Random-weight ONNX models with the REAL architectures, so encoder/scan benchmarks mean something.

The real weights cannot be downloaded on our machines, and the tiny test models cost nothing to
run, so neither says how fast a scan is. Speed depends on the architecture, not on the values of
the weights, so this script builds the registry's models (docs/models.md) from their published
configs with random weights and the exact I/O contract, in the variants asked for: fp32, int8
(`onnxruntime.quantization.quantize_dynamic`, how the published `_quantized` files were made) and
fp16 (`onnxruntime.transformers.float16`, for CUDA). The vectors are meaningless: timing only.

Two builders: `onnx` writes the ViT graphs directly (benchmarks/vit_onnx.py; numpy + onnx only,
seconds, works on a machine without a registry), `torch` exports the transformers modules
(dinov2-small + siglip-base only; torch and transformers are bench-only tools, never project
dependencies):

    pip install torch==2.13.0                              # CPU build (torch builder only)
    pip install --no-deps transformers && pip install safetensors typer pyyaml
    python benchmarks/make_bench_models.py --out /tmp/vv_realarch          # small pair, fp32+int8
    python benchmarks/make_bench_models.py --out /tmp/vv_realarch --builder onnx \
        --pairs small,large --variants fp32,fp16                            # what bench_gpu.sh does
    python benchmarks/bench_encoders.py --models-dir /tmp/vv_realarch

Writes OUT/<variant>/ (dinov2-small + siglip-base: dinov2_small.onnx, siglip_vision.onnx,
siglip_text.onnx, siglip_tokenizer.json) and OUT/large-<variant>/ (dinov2-base + siglip-large),
each with a small Unigram tokenizer with SigLIP's special ids (not the real 32k vocabulary).
`--depth N` keeps N layers per tower (a quick mode for CPU smoke runs; not the real cost).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPSET = 17
TEXT_LENGTH = 64  # SigLIP's text model takes exactly 64 ids, no attention mask
SPECIAL = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in SigLIP's tokenizer (pad = </s> = 1)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # vit_onnx

#: pair -> (visual, semantic) registry names; the towers vit_onnx builds; the files they become
MODELS = {"small": ("dinov2-small", "siglip-base"), "large": ("dinov2-base", "siglip-large")}
PAIRS = {
    "small": ("dinov2-small", "siglip-base-vision", "siglip-base-text"),
    "large": ("dinov2-base", "siglip-large-vision", "siglip-large-text"),
}
FILES = {
    "small": ("dinov2_small.onnx", "siglip_vision.onnx", "siglip_text.onnx"),
    "large": ("dinov2_base.onnx", "siglip_large_vision.onnx", "siglip_large_text.onnx"),
}
TOKENIZERS = {"small": "siglip_tokenizer.json", "large": "siglip_large_tokenizer.json"}
SMALL_FILES = FILES["small"]


def _need(module: str, hint: str) -> Any:
    """Import a bench-only tool or exit with the install command (it is not a project dep)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"make_bench_models.py needs {module} ({exc}); install it with: {hint}"
        raise SystemExit(msg) from exc


def _modules(seed: int) -> dict[str, Any]:
    """The three torch modules, random init, wrapped so forward() returns the contract outputs."""
    torch = _need("torch", "pip install torch==2.13.0 (CPU build)")
    tf = _need("transformers", "pip install --no-deps transformers safetensors typer pyyaml")
    torch.manual_seed(seed)
    eager = {"attn_implementation": "eager"}  # plain MatMul/Softmax, as in the published exports
    dino_cfg = tf.Dinov2Config(  # facebook/dinov2-small config.json
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        mlp_ratio=4,
        patch_size=14,
        image_size=518,
        layerscale_value=1.0,
        **eager,
    )
    vision_cfg = tf.SiglipVisionConfig(  # google/siglip-base-patch16-224 vision_config
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
        patch_size=16,
        **eager,
    )
    text_cfg = tf.SiglipTextConfig(  # google/siglip-base-patch16-224 text_config
        vocab_size=32000,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=TEXT_LENGTH,
        pad_token_id=1,
        eos_token_id=1,
        bos_token_id=None,
        **eager,
    )

    class Dino(torch.nn.Module):
        """pixel_values -> last_hidden_state only (the published export has no pooler_output)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = tf.Dinov2Model(dino_cfg)

        def forward(self, pixel_values: Any) -> Any:
            return self.model(pixel_values=pixel_values).last_hidden_state

    class Siglip(torch.nn.Module):
        """pixel_values or input_ids -> (last_hidden_state, pooler_output)."""

        def __init__(self, model: Any, key: str) -> None:
            super().__init__()
            self.model, self.key = model, key

        def forward(self, x: Any) -> Any:
            out = self.model(**{self.key: x})
            return out.last_hidden_state, out.pooler_output

    return {
        "dinov2_small.onnx": Dino(),
        "siglip_vision.onnx": Siglip(tf.SiglipVisionModel(vision_cfg), "pixel_values"),
        "siglip_text.onnx": Siglip(tf.SiglipTextModel(text_cfg), "input_ids"),
    }


def export_fp32(folder: Path, seed: int) -> None:
    """torch.onnx.export (TorchScript exporter: no onnxscript needed) with a dynamic batch axis."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    pixels = torch.zeros(2, 3, 224, 224)
    plan = {  # file -> (example input, input name, output names, dynamic axes)
        "dinov2_small.onnx": (
            pixels,
            "pixel_values",
            ["last_hidden_state"],
            {0: "batch", 2: "height", 3: "width"},
        ),
        "siglip_vision.onnx": (
            pixels,
            "pixel_values",
            ["last_hidden_state", "pooler_output"],
            {0: "batch"},
        ),
        "siglip_text.onnx": (
            torch.ones(2, TEXT_LENGTH, dtype=torch.int64),
            "input_ids",
            ["last_hidden_state", "pooler_output"],
            {0: "batch"},
        ),
    }
    for name, module in _modules(seed).items():
        example, inp, outs, axes = plan[name]
        t0 = time.perf_counter()
        module.eval()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python code
            torch.onnx.export(
                module,
                (example,),
                str(folder / name),
                input_names=[inp],
                output_names=outs,
                dynamic_axes={inp: axes, **{o: {0: "batch"} for o in outs}},
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
        print(f"  {folder / name}: {_mb(folder / name)} ({time.perf_counter() - t0:.0f} s)")


def quantize(src: Path, dst: Path, names: tuple[str, ...] = SMALL_FILES) -> None:
    """int8 weights, dynamic activations: MatMul -> MatMulInteger, as the `_quantized` files."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        quantize_dynamic(src / name, dst / name, weight_type=QuantType.QInt8)
        print(f"  {dst / name}: {_mb(dst / name)} ({time.perf_counter() - t0:.0f} s)")


def half(src: Path, dst: Path, names: tuple[str, ...] = SMALL_FILES) -> None:
    """fp16 weights and compute (float32 inputs/outputs kept), for CUDA."""
    from vit_onnx import to_fp16

    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        to_fp16(src / name, dst / name)
        print(f"  {dst / name}: {_mb(dst / name)} ({time.perf_counter() - t0:.0f} s)")


def build_onnx(
    folder: Path, pair: str, seed: int, depth: int | None, *, half: bool = False
) -> None:
    """The pair's three towers as direct ONNX graphs (no torch), random weights."""
    import dataclasses

    import vit_onnx

    folder.mkdir(parents=True, exist_ok=True)
    look, vision, text = PAIRS[pair]
    plan = (
        (vit_onnx.build_dinov2, look),
        (vit_onnx.build_siglip_vision, vision),
        (vit_onnx.build_siglip_text, text),
    )
    for (build, arch_name), name in zip(plan, FILES[pair], strict=True):
        arch = vit_onnx.ARCHS[arch_name]
        if depth:
            arch = dataclasses.replace(arch, layers=min(depth, arch.layers))
        t0 = time.perf_counter()
        build(folder / name, arch, seed, half)
        print(f"  {folder / name}: {_mb(folder / name)} ({time.perf_counter() - t0:.0f} s)")


def build_tokenizer(path: Path) -> None:
    """A small SentencePiece-like Unigram tokenizer with SigLIP's special ids and `</s>` appended.

    Trained on prompts over a word list so every ordinary English word still tokenizes (unknown
    pieces fall back to characters); ids stay far below the model's 32000-entry vocabulary.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    words = str.split(
        "photo picture image of a the an this is with and in on at dog cat bird horse car boat "
        "tree flower beach mountain city street house food cake coffee person people child woman "
        "man sky sunset night snow rain forest river lake sea ocean bridge building road train "
        "plane bicycle book computer phone table chair window door red green blue yellow black "
        "white orange purple brown grey pink portrait landscape close up indoor outdoor"
    )
    corpus = [f"This is a photo of {a} {b}." for a in words for b in words[::7]]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=600,
        special_tokens=list(SPECIAL),
        unk_token="<unk>",
        show_progress=False,
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyz0123456789"),
    )
    tok.train_from_iterator(corpus, trainer)
    eos = tok.token_to_id("</s>")
    if [tok.token_to_id(t) for t in SPECIAL] != [0, 1, 2]:
        msg = f"tokenizer special ids are {[tok.token_to_id(t) for t in SPECIAL]}, want [0, 1, 2]"
        raise RuntimeError(msg)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)]
    )
    tok.save(str(path))


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def check(folder: Path, pair: str = "small") -> None:
    """Load through the package and embed two images + two texts: the contract is met."""
    from PIL import Image

    from vectorvision_widget.models.encoders import Encoders

    visual, semantic = MODELS[pair]
    enc = Encoders.load(folder, batch_size=2, visual=visual, semantic=semantic)
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)) for _ in "ab"]
    features, visual_vecs = enc.embed_images(imgs)
    texts = enc.embed_texts(["a photo of a dog", "sunset over the sea"])
    shapes = (features.shape, visual_vecs.shape, texts.shape)
    want = {"small": ((2, 768), (2, 384), (2, 768)), "large": ((2, 1024), (2, 768), (2, 1024))}
    if shapes != want[pair] or not np.isfinite(features).all():
        msg = f"{folder}: unexpected embeddings {shapes} (want {want[pair]})"
        raise RuntimeError(msg)
    print(f"  {folder}: Encoders.load ok; features/visual/text {shapes}")


def _folder(out: Path, pair: str, variant: str) -> Path:
    return out / (variant if pair == "small" else f"large-{variant}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/vv_realarch"), help="parent folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rebuild files that already exist")
    p.add_argument(
        "--builder",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="auto: torch when importable (small pair), else onnx",
    )
    p.add_argument("--pairs", default="small", help="small (dinov2-small + siglip-base), large")
    p.add_argument("--variants", default="fp32,quantized", help="of fp32, quantized, fp16")
    p.add_argument("--depth", type=int, default=None, help="layers per tower (quick mode)")
    p.add_argument("--no-check", action="store_true", help="skip the load + embed check")
    args = p.parse_args(argv)
    pairs = [x for x in args.pairs.split(",") if x]
    variants = [x for x in args.variants.split(",") if x]
    bad = [x for x in pairs if x not in FILES] + [
        x for x in variants if x not in ("fp32", "quantized", "fp16")
    ]
    if bad:
        p.error(f"unknown pair/variant {bad}")
    for pair in pairs:
        names = FILES[pair]
        fp32 = _folder(args.out, pair, "fp32")
        if args.force or not all((fp32 / m).is_file() for m in names):
            use_torch = args.builder == "torch" or (
                args.builder == "auto" and pair == "small" and not args.depth and _has_torch()
            )
            how = "torch" if use_torch else "onnx"
            print(f"{pair}: fp32 (random weights, real architectures, {how} builder)")
            if use_torch:
                export_fp32(fp32, args.seed)
                (fp32 / ".torch").touch()  # fp16 then converts these graphs
            else:
                build_onnx(fp32, pair, args.seed, args.depth)
        build_tokenizer(fp32 / TOKENIZERS[pair])
        for variant, make in (("quantized", quantize), ("fp16", half)):
            dst = _folder(args.out, pair, variant)
            if variant in variants and (args.force or not all((dst / m).is_file() for m in names)):
                print(f"{pair}: {variant}")
                if variant == "fp16" and not (fp32 / ".torch").exists():
                    build_onnx(dst, pair, args.seed, args.depth, half=True)  # direct: fast
                else:
                    make(fp32, dst, names)
            if variant in variants:
                shutil.copyfile(fp32 / TOKENIZERS[pair], dst / TOKENIZERS[pair])
        if not args.no_check:
            for variant in variants:
                check(_folder(args.out, pair, variant), pair)
    return 0


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None and (
        importlib.util.find_spec("transformers") is not None
    )


if __name__ == "__main__":
    raise SystemExit(main())
