import importlib.util
import json

import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator
from genie_transforms.cli import main
from genie_transforms.generator import PRESETS


def test_bench_command_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--model",
                "tiny",
                "--images",
                "4",
                "--steps",
                "4",
                "--batch-sizes",
                "1",
                "4",
                "--ada-pairs",
                "0",
                "--quality-images",
                "0",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    everything = json.loads(out.read_text())
    figures = everything["throughput"]
    assert set(figures["engine_images_per_s"]) == {"1", "4"} and figures["naive_images_per_s"] > 0
    peer = everything["peer"]  # diffusers called once with the whole batch, in the same run
    assert peer["images"] == 4 and peer["peer_images_per_s"] > 0 and peer["engine_vs_peer"] > 0
    # at the same noise the engine and diffusers differ only by the VAE posterior (mode vs sample) and resizing
    assert peer["pixel_difference_same_noise"]["mean"] < 8
    assert figures["unet_floor_s"] > 0 and figures["overhead_over_unet_floor"] > 0 and figures["peak_memory_mb"] > 0
    assert "x naive loop" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_on_the_digits_model_reports_ada_and_the_fast_preset(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--images",
                "2",
                "--steps",
                "10",
                "--batch-sizes",
                "2",
                "--ada-pairs",
                "2",
                "--quality-images",
                "4",
                "--cheap-steps",
                "4",
                "--training-images",
                "64",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    ada = figures["ada"]
    assert ada["pairs"] == 2 and 0 <= ada["agreement"] <= 1
    assert ada["steps_per_image"]["exact"] == 5 + 6 + 7 + 8 + 9 and ada["steps_per_image"]["genie_0.8"] == 8
    assert set(ada["seconds_per_image"]) == {"exact", "cheap", "genie_0.8"}
    fast = figures["fast_preset"]
    assert fast["settings"]["num_inference_steps"] == 20 and 0 <= fast["oracle_reads_target_fast"] <= 1
    curve = figures["cheap_ada_curve"]["curve"]
    assert [row["cheap_steps"] for row in curve] == [4] and 0 <= curve[0]["agreement"] <= 1
    training = figures["training"]
    hosts = [h for h in ("albumentations", "torchvision") if importlib.util.find_spec(h) is not None]
    assert set(training) == {f"{h}, {w} workers" for h in hosts for w in (0, 2)} and hosts
    assert all(row["ratio"] > 0 and row["samples_per_s_without"] > 0 for row in training.values())


def test_out_of_memory_halves_the_batch_and_keeps_the_rows(tiny_model_path, prompts, rgb_images, monkeypatch):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False, batch_size=4)
    reference = gen.generate(rgb_images, [1, 2, 3, 0], 0.5, seed=0, prompts=prompts)
    pipe, sizes = gen.pipe, []
    real_call = type(pipe).__call__

    def small_memory(self, **kwargs):
        """The real pipeline, failing like CUDA does for batches above 1."""
        sizes.append(len(kwargs["generator"]))
        if len(kwargs["generator"]) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_call(self, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", small_memory)
    out = gen.generate(rgb_images, [1, 2, 3, 0], 0.5, seed=0, prompts=prompts)
    assert gen.batch_size == 1 and sizes[:3] == [4, 2, 1]
    for a, b in zip(reference.images, out.images):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=2)


def test_presets(tiny_model_path):
    fast = GenieGenerator.from_pretrained(tiny_model_path, preset="fast")
    assert fast.num_inference_steps == PRESETS["fast"]["num_inference_steps"] < 50
    assert (
        GenieGenerator.from_pretrained(tiny_model_path, preset="fast", num_inference_steps=7).num_inference_steps == 7
    )
    assert GenieGenerator.from_pretrained(tiny_model_path, preset="paper").num_inference_steps == 50
    with pytest.raises(ValueError, match="Unknown preset 'sdxl'"):
        GenieGenerator.from_pretrained(tiny_model_path, preset="sdxl")


@pytest.mark.parametrize("preset", ["turbo", "lcm"])
def test_fast_model_presets_run(tiny_model_path, prompts, rgb_images, preset):
    gen = GenieGenerator.from_pretrained(tiny_model_path, preset=preset, progress=False)
    out = gen.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    rec = out.records[0]
    assert (
        rec.num_inference_steps == PRESETS[preset]["num_inference_steps"]
        and rec.steps_run == rec.num_inference_steps // 2
    )
    assert rec.guidance_scale == PRESETS[preset]["guidance_scale"]
    with pytest.raises(ValueError, match="Use noise_ratio >="):
        gen.generate(rgb_images[:1], [1], 0.1, seed=0, prompts=prompts)


def test_channels_last_gives_the_same_images(tiny_model_path, prompts, rgb_images):
    plain = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    fast = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False, channels_last=True)
    a = plain.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    b = fast.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    for x, y in zip(a.images, b.images):
        np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), atol=2)


def test_the_sd15_bench_model_has_the_published_architecture():
    """Built on the meta device (no memory): the parameter counts of Stable Diffusion 1.5's UNet, VAE and CLIP text
    encoder, so that figures measured on it are those of SD 1.5's compute."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from genie_transforms.testing import sd15_configs

    configs = sd15_configs()
    with torch.device("meta"):
        unet = UNet2DConditionModel(**configs["unet"])
        vae = AutoencoderKL(**configs["vae"])
        text = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (count(unet), count(vae), count(text)) == (859_520_964, 83_653_863, 123_060_480)
    assert unet.config.sample_size * 8 == 512 and unet.config.cross_attention_dim == text.config.hidden_size
