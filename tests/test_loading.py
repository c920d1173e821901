import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator, LoraWeights, PromptMap, TextualInversion
from genie_transforms.loading import ModelSpec, content_identity
from genie_transforms.testing import make_tiny_pipeline


def _pixels(image):
    return np.asarray(image, dtype=np.float64)


def test_a_local_model_is_known_by_its_content(tmp_path, tiny_model_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_path, folder)
    first = GenieGenerator.from_pretrained(folder).resolve_revision()
    assert first.startswith("sha256:") and first == content_identity(folder)
    make_tiny_pipeline(seed=1).save_pretrained(folder, safe_serialization=True)  # new weights, same path
    second = GenieGenerator.from_pretrained(folder).resolve_revision()
    assert second != first and second.startswith("sha256:")
    assert GenieGenerator.from_pretrained("genie-tiny-digits").resolve_revision().startswith("sha256:")


def test_a_symlinked_component_folder_is_part_of_the_identity(tmp_path, tiny_model_path):
    """The silent failure first: a `unet/` symlink pointed at other weights of the same size and modification time
    (as a sync or `cp -p` leaves them) must change the identity, so that one job never mixes two UNets."""
    import os

    other = tmp_path / "other"
    make_tiny_pipeline(seed=1).save_pretrained(other, safe_serialization=True)
    weights = "diffusion_pytorch_model.safetensors"
    a, b = tiny_model_path / "unet" / weights, other / "unet" / weights
    assert a.stat().st_size == b.stat().st_size
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))
    model = tmp_path / "model"
    model.mkdir()
    for part in tiny_model_path.iterdir():
        (model / part.name).symlink_to(part, target_is_directory=part.is_dir())
    linked = content_identity(model)
    assert linked == content_identity(tiny_model_path)  # what a symlink names is read, as the loader reads it
    (model / "unet").unlink()
    (model / "unet").symlink_to(other / "unet", target_is_directory=True)
    swapped = content_identity(model)
    assert swapped != linked
    assert GenieGenerator.from_pretrained(model).resolve_revision() == swapped


def test_a_pipeline_object_is_known_by_its_weights(prompts, rgb_images):
    """Two pipelines of the same class and name but other weights never share an identity (and so never a cached
    dataset); changing the weights in place changes it too."""
    pipe_a, pipe_b = make_tiny_pipeline(seed=0), make_tiny_pipeline(seed=1)
    gen_a, gen_b = GenieGenerator(pipe_a), GenieGenerator(pipe_b)
    first = gen_a.settings["model_revision"]
    assert first.startswith("weights:sha256:") and first != gen_b.settings["model_revision"]
    assert first == GenieGenerator(make_tiny_pipeline(seed=0)).settings["model_revision"]  # the same weights
    with torch.no_grad():
        pipe_a.unet.conv_in.weight.mul_(1.5)
    assert gen_a.settings["model_revision"] not in (first, gen_b.settings["model_revision"])
    out = gen_a.with_settings(num_inference_steps=2, progress=False).generate(
        rgb_images[:1], 1, 0.5, seed=0, prompts=prompts
    )
    assert out.records[0].model_revision == gen_a.settings["model_revision"]


def test_dtype_is_applied_on_this_diffusers_version(tiny_model_path, prompts, rgb_images):
    from diffusers import __version__ as diffusers_version

    from genie_transforms.loading import dtype_keyword

    major, minor = (int(x) for x in diffusers_version.split(".")[:2])
    assert dtype_keyword() == ("dtype" if (major, minor) >= (0, 40) else "torch_dtype")
    gen = GenieGenerator.from_pretrained(tiny_model_path, dtype=torch.bfloat16, num_inference_steps=2, progress=False)
    assert gen.settings["dtype"] == "bfloat16" and not gen.is_loaded
    out = gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts)
    assert gen.pipe.unet.dtype == torch.bfloat16 and gen.pipe.text_encoder.dtype == torch.bfloat16
    assert out.records[0].dtype == "bfloat16"
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        GenieGenerator.from_pretrained(tiny_model_path, dtype=torch.int8)


def test_a_weights_variant_is_loaded_and_recorded(tmp_path, prompts, rgb_images):
    folder = tmp_path / "variant"
    make_tiny_pipeline().save_pretrained(folder, safe_serialization=True, variant="fp16")
    assert any(p.name.endswith(".fp16.safetensors") for p in folder.rglob("*"))
    gen = GenieGenerator.from_pretrained(folder, variant="fp16", num_inference_steps=2, progress=False)
    out = gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts)
    assert out.records[0].model_variant == "fp16" and gen.settings["model_variant"] == "fp16"
    with pytest.raises(ValueError, match="weights variant name"):
        GenieGenerator.from_pretrained(folder, variant="fp 16")


def test_offload_needs_a_gpu_and_says_so(tiny_model_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; see tests/test_gpu.py")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        GenieGenerator.from_pretrained(tiny_model_path, offload="model").load()
    with pytest.raises(ValueError, match="`offload` must be None, 'model' or 'sequential'"):
        GenieGenerator.from_pretrained(tiny_model_path, offload="disk")


def test_a_pipeline_with_offload_hooks_runs_on_its_execution_device(prompts, rgb_images):
    """What runs on the CPU of the offload path: accelerate's hooks installed (execution device cpu), the engine
    encoding sources and prompts on `_execution_device`. The GPU check is tests/test_gpu.py."""
    pytest.importorskip("accelerate")
    pipe = make_tiny_pipeline()
    pipe.enable_model_cpu_offload(device="cpu")
    gen = GenieGenerator(pipe, num_inference_steps=2, progress=False)
    assert gen.execution_device.type == "cpu"
    reference = GenieGenerator(make_tiny_pipeline(), num_inference_steps=2, progress=False)
    a = gen.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    b = reference.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    for x, y in zip(a.images, b.images):
        np.testing.assert_allclose(_pixels(x), _pixels(y), atol=2)


def test_lora_weights_change_the_images_and_are_recorded(tiny_model_path, tiny_lora_path, prompts, rgb_images):
    pytest.importorskip("peft")
    base = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    lora = GenieGenerator.from_pretrained(
        tiny_model_path, lora=f"{tiny_lora_path}:0.8", num_inference_steps=4, progress=False
    )
    a = base.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    b = lora.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    assert np.abs(_pixels(a.images[0]) - _pixels(b.images[0])).max() > 2
    (adapter,) = b.records[0].adapters
    assert adapter["kind"] == "lora" and adapter["scale"] == 0.8 and adapter["identity"].startswith("sha256:")
    assert lora.settings["adapters"] == [adapter] and base.settings["adapters"] == []
    assert lora.settings != base.settings  # fingerprints and job settings change with the adapter
    off = GenieGenerator.from_pretrained(
        tiny_model_path, lora=LoraWeights(str(tiny_lora_path), scale=0.0), num_inference_steps=4, progress=False
    )
    np.testing.assert_allclose(
        _pixels(off.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts).images[0]), _pixels(a.images[0]), atol=2
    )
    restored = pickle.loads(pickle.dumps(lora))  # configuration only
    assert len(pickle.dumps(lora)) < 10_000 and GenieGenerator.from_config(lora.config).config == lora.config
    np.testing.assert_array_equal(
        _pixels(restored.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts).images[0]), _pixels(b.images[0])
    )


def test_textual_inversion_tokens_can_be_prompted(tiny_model_path, tiny_embedding_path, rgb_images):
    prompts = PromptMap(["cat", "kitten"], overrides={1: "a photo of a <kitten>."})
    plain = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    learned = GenieGenerator.from_pretrained(
        tiny_model_path, textual_inversion=str(tiny_embedding_path), num_inference_steps=4, progress=False
    )
    a = plain.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    b = learned.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    assert "<kitten>" in learned.pipe.tokenizer.get_vocab() and "<kitten>" not in plain.pipe.tokenizer.get_vocab()
    assert np.abs(_pixels(a.images[0]) - _pixels(b.images[0])).max() > 2
    (adapter,) = b.records[0].adapters
    assert adapter["kind"] == "textual_inversion" and adapter["identity"] == content_identity(tiny_embedding_path)
    rebound = TextualInversion.parse(f"{tiny_embedding_path}:<cat2>")
    assert rebound.token == "<cat2>" and TextualInversion.parse(str(tiny_embedding_path)).token is None


def test_adapters_load_from_safetensors_only(tmp_path, tiny_model_path):
    (tmp_path / "weights.bin").write_bytes(b"not safe")
    with pytest.raises(ValueError, match="not a .safetensors file"):
        GenieGenerator.from_pretrained(tiny_model_path, lora=str(tmp_path / "weights.bin")).settings
    with pytest.raises(ValueError, match="no such file"):
        GenieGenerator.from_pretrained(tiny_model_path, lora="./missing.safetensors").settings


def test_model_spec_serialises(tiny_lora_path):
    spec = ModelSpec("m", dtype="float16", loras=(LoraWeights(str(tiny_lora_path), 0.5),))
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert LoraWeights.parse("org/name:0.7") == LoraWeights("org/name", 0.7)
    assert LoraWeights.parse("C:/x/y.safetensors") == LoraWeights("C:/x/y.safetensors")


@pytest.mark.slow
def test_from_the_hub_only_the_loaded_files_are_downloaded(tmp_path, prompts, rgb_images, tiny_lora_path):
    """A Stable Diffusion-like repository with a safety checker, a feature extractor and two weights variants, served
    by the local stand-in for the Hub: loading the fp16 variant downloads neither the safety checker's files nor the
    other variant's weights; a LoRA is fetched by Hub id and recorded with its commit."""
    import os
    import subprocess
    import sys

    from .hub_server import LocalHub

    repo = tmp_path / "repo"
    pipe = make_tiny_pipeline()
    pipe.save_pretrained(repo, safe_serialization=True)
    pipe.save_pretrained(repo, safe_serialization=True, variant="fp16")
    index = json.loads((repo / "model_index.json").read_text())
    index.update(
        safety_checker=["stable_diffusion", "StableDiffusionSafetyChecker"],
        feature_extractor=["transformers", "CLIPImageProcessor"],
        requires_safety_checker=True,
    )
    (repo / "model_index.json").write_text(json.dumps(index))
    for folder in ("safety_checker", "feature_extractor"):
        (repo / folder).mkdir()
        (repo / folder / "config.json").write_text("{}")
    (repo / "safety_checker" / "model.safetensors").write_bytes(b"0" * 1000)
    hub = LocalHub(tmp_path / "hub").start()
    try:
        hub.add("model", "org/tiny-sd", repo)
        hub.add("model", "org/tiny-lora", tiny_lora_path.parent)
        script = """
import json
from genie_transforms import GenieGenerator
gen = GenieGenerator.from_pretrained("org/tiny-sd", variant="fp16", lora="org/tiny-lora/pytorch_lora_weights.safetensors",
                                     num_inference_steps=2, progress=False)
out = gen.generate([__import__("PIL.Image").Image.new("RGB", (32, 32))], 1, 0.5, seed=0, prompts=["cat", "dog"])
print(json.dumps({"revision": gen.model_revision, "variant": out.records[0].model_variant,
                  "adapters": out.records[0].adapters}))
"""
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "home")}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        hub.stop()
    fetched = [path for method, path in hub.requests if method == "GET" and "/resolve/" in path]
    assert any(p.endswith("unet/diffusion_pytorch_model.fp16.safetensors") for p in fetched)
    assert not [p for p in fetched if "safety_checker/" in p or "feature_extractor/" in p]
    assert not [p for p in fetched if p.endswith(("diffusion_pytorch_model.safetensors", "/model.safetensors"))]
    assert figures["revision"] == hub.commit("model", "org/tiny-sd") and figures["variant"] == "fp16"
    (adapter,) = figures["adapters"]
    assert adapter["identity"] == f"org/tiny-lora@{hub.commit('model', 'org/tiny-lora')}" and adapter["scale"] == 1.0


def test_loading_bars_of_diffusers_stay_out_of_ours_unless_asked_for(tiny_model_path, capfd, monkeypatch):
    """diffusers' "Loading pipeline components" bar would appear inside the caller's progress bar: it is off while
    the engine loads (and left as it was after); GENIE_LOADING_BARS=1 (`genie --verbose`) keeps it."""
    from diffusers.utils import logging as diffusers_logging

    from genie_transforms import GenieGenerator
    from genie_transforms.loading import LOADING_BARS_ENV

    was = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.enable_progress_bar()
    try:
        monkeypatch.delenv(LOADING_BARS_ENV, raising=False)
        GenieGenerator.from_pretrained(tiny_model_path, progress=False).load()
        assert "Loading pipeline components" not in capfd.readouterr().err
        assert diffusers_logging.is_progress_bar_enabled()  # the caller's setting is restored
        monkeypatch.setenv(LOADING_BARS_ENV, "1")
        GenieGenerator.from_pretrained(tiny_model_path, progress=False).load()
        assert "Loading pipeline components" in capfd.readouterr().err
    finally:
        (diffusers_logging.enable_progress_bar if was else diffusers_logging.disable_progress_bar)()
