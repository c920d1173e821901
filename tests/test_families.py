"""Every supported model family end to end (`genie_transforms.families`), on tiny random pipelines built in code as
diffusers' own tests build them: as an object and saved to and loaded from a folder; a row alone equals the row in
a batch; r = 1 is text-to-image, equal to the family's own diffusers text-to-image pipeline started from the row's
noise; records name the family and the start's noise level."""

import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator
from genie_transforms.ada import GenieAda
from genie_transforms.embedders import Embedder
from genie_transforms.families import family_name
from genie_transforms.seeding import derive_seed, row_noise
from genie_transforms.testing import TINY_FAMILIES, make_tiny_family_pipeline, save_tiny_pipeline

from .helpers import DenoiserCalls, pooled

PROMPTS = ["cat", "dog", "car"]
FAMILY = {"sd": "sd", "sd-v": "sd", "sdxl": "sdxl", "sd3": "sd3", "flux-dev": "flux", "flux-schnell": "flux"}


def _pixels(image):
    return np.asarray(image, dtype=int)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    return {name: save_tiny_pipeline(folder / name, family=name) for name in TINY_FAMILIES}


def _generator(pipe_or_path, **settings):
    settings = {"num_inference_steps": 4, "progress": False, "resolution": 32, **settings}
    if isinstance(pipe_or_path, (str, bytes)) or hasattr(pipe_or_path, "is_dir"):
        return GenieGenerator.from_pretrained(pipe_or_path, **settings)
    return GenieGenerator(pipe_or_path, **settings)


@pytest.mark.slow
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_family_generates_from_an_object_and_from_a_folder_alike(family, saved, rgb_images):
    pipe = make_tiny_family_pipeline(family)
    before = {k: v.clone() for k, v in pipe.components[_denoiser(pipe)].state_dict().items()}
    scheduler = pipe.scheduler
    from_object = _generator(pipe)
    from_folder = _generator(saved[family])
    assert from_folder.model_family == FAMILY[family] and not from_folder.is_loaded  # known before loading
    kwargs = {"seed": 0, "prompts": PROMPTS, "source_ids": ["a", "b", "c"]}
    a = from_object.generate(rgb_images[:3], [1, 2, 0], [0.5, 1.0, 0.75], **kwargs)
    b = from_folder.generate(rgb_images[:3], [1, 2, 0], [0.5, 1.0, 0.75], **kwargs)
    for x, y in zip(a.images, b.images):
        np.testing.assert_allclose(_pixels(x), _pixels(y), atol=2)
    record = b.records[0]
    assert record.model_family == FAMILY[family] and record.steps_run == 2 and record.start_snr > 0
    assert (record.start_sigma is not None) and b.records[1].start_snr == 0.0  # r = 1 starts from pure noise
    assert b.records[1].text_to_image and b.records[2].start_snr < record.start_snr  # more noise at a higher r
    # the caller's pipeline is never modified: same weights, same scheduler object
    assert pipe.scheduler is scheduler
    for k, v in pipe.components[_denoiser(pipe)].state_dict().items():
        assert torch.equal(v, before[k])


def _denoiser(pipe):
    return "transformer" if "transformer" in pipe.components else "unet"


@pytest.mark.slow
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_row_alone_equals_the_row_in_a_batch_and_the_seed_decides(family, saved, rgb_images):
    gen = _generator(saved[family])
    kwargs = {"seed": 3, "prompts": PROMPTS}
    batch = gen.generate(rgb_images, [1, 2, 0, 1], [0.75, 0.5, 0.75, 1.0], source_ids=list("abcd"), **kwargs)
    alones = []
    for i in range(4):
        alone = gen.generate(
            [rgb_images[i]], batch.labels[i], batch.records[i].noise_ratio, source_ids=["abcd"[i]], **kwargs
        )
        np.testing.assert_allclose(_pixels(batch.images[i]), _pixels(alone.images[0]), atol=2)
        assert alone.records[0] == batch.records[i]
        alones.append(alone)
    again = gen.generate(rgb_images[:1], 1, 0.75, source_ids=["a"], **kwargs)
    other = gen.generate(rgb_images[:1], 1, 0.75, source_ids=["a"], seed=4, prompts=PROMPTS)
    assert np.array_equal(_pixels(again.images[0]), _pixels(alones[0].images[0]))  # deterministic
    assert not np.array_equal(_pixels(other.images[0]), _pixels(again.images[0]))  # another seed, another image


@pytest.mark.slow
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_text_to_image_is_the_familys_own_pipeline_started_from_the_rows_noise(family, rgb_images):
    """r = 1 does not depend on the source, and equals diffusers' text-to-image pipeline of the family (same
    components and scheduler) called with the row's own noise as its starting latents: an independent check of the
    engine's prompts, guidance, schedule, denoising loop and decoding for each family."""
    from diffusers import AutoPipelineForText2Image

    pipe = make_tiny_family_pipeline(family)
    gen = _generator(pipe, guidance_scale=3.0)
    out = gen.generate(rgb_images[:2], [1, 1], 1.0, seed=0, prompts=PROMPTS, source_ids=["x", "x"])
    np.testing.assert_array_equal(_pixels(out.images[0]), _pixels(out.images[1]))  # the source does not enter
    engine = gen.pipe  # the engine's own copy: its components, its scheduler
    peer = AutoPipelineForText2Image.from_pipe(engine)
    peer.set_progress_bar_config(disable=True)
    noise = row_noise(derive_seed(0, "x", 1), gen.family.latent_shape(32))[None]
    latents = gen.family.pack(noise)
    reference = peer(
        prompt=gen.prompt_map(PROMPTS).prompt(1),
        latents=latents,
        num_inference_steps=4,
        guidance_scale=3.0,
        height=32,
        width=32,
        output_type="np",
    ).images[0]
    # within 2/255 on current diffusers; 3/255 on 0.37 (the floor), whose Flux rounds a few pixels apart
    np.testing.assert_allclose(_pixels(out.images[0]), np.round(reference * 255), atol=3)


def test_families_are_chosen_from_the_pipeline_class_and_others_are_refused():
    assert family_name("StableDiffusionXLImg2ImgPipeline") == "sdxl"
    assert family_name("StableDiffusion3Pipeline") == "sd3"
    assert family_name("FluxImg2ImgPipeline") == "flux"
    assert family_name("LatentConsistencyModelImg2ImgPipeline") == "sd"
    assert family_name("StableDiffusionImg2ImgPipeline") == "sd"
    with pytest.raises(TypeError, match="KandinskyPipeline is not a pipeline family GeNIe supports.*SDXL.*Flux"):
        family_name("KandinskyPipeline")


@pytest.mark.parametrize("family", ["sd3", "flux-dev"])
def test_a_scheduler_that_predicts_noise_is_refused_for_flow_matching_models(family, saved):
    gen = GenieGenerator.from_pretrained(saved[family], num_inference_steps=4, resolution=32)
    assert gen.settings["scheduler"] == "pipeline"  # the family's own flow-matching scheduler by default
    with pytest.raises(ValueError, match="predicts noise, but this .* model is a flow-matching model"):
        gen.with_settings(scheduler="dpmsolver++").load()
    with pytest.raises(ValueError, match="preset='turbo' is made for sd/sdxl models"):
        GenieGenerator.from_pretrained(saved[family], preset="turbo", resolution=32).load()
    assert gen.with_settings(scheduler="euler").load().pipe.scheduler.__class__.__name__ == (
        "FlowMatchEulerDiscreteScheduler"
    )


def test_the_flux_schnell_preset_fits_flux_only(saved, rgb_images):
    gen = GenieGenerator.from_pretrained(saved["flux-schnell"], preset="flux-schnell", resolution=32, progress=False)
    out = gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=PROMPTS)
    assert out.records[0].num_inference_steps == 4 and out.records[0].guidance_scale == 0.0
    with pytest.raises(ValueError, match="preset='flux-schnell' is made for flux models, but this is a sd model"):
        GenieGenerator.from_pretrained(saved["sd"], preset="flux-schnell").load()


def test_the_sd15_snr_rule_starts_each_family_at_stable_diffusion_15s_noise_level(saved, rgb_images):
    """Under the default rule r = 0.8 destroys far more of the source on SD3 (a flow-matching model with shift 3)
    than on SD 1.5; `noise_rule="sd15-snr"` starts it where SD 1.5 starts. On SD's own schedule both rules agree."""
    from genie_transforms.families import sd15_snr

    target = sd15_snr(0.8)
    starts = {}
    for family in ("sd", "sd3"):
        for rule in ("steps", "sd15-snr"):
            gen = _generator(saved[family], num_inference_steps=50, noise_rule=rule)
            record = gen.generate(rgb_images[:1], 1, 0.8, seed=0, prompts=PROMPTS).records[0]
            assert record.noise_rule == rule and gen.settings["noise_rule"] == rule
            starts[family, rule] = record
    assert starts["sd", "steps"].steps_run == starts["sd", "sd15-snr"].steps_run == 40
    assert abs(starts["sd", "steps"].start_snr / target - 1) < 0.01
    assert starts["sd3", "steps"].start_snr < target / 3  # nearly text-to-image
    assert abs(starts["sd3", "sd15-snr"].start_snr / target - 1) < 0.2
    assert starts["sd3", "sd15-snr"].steps_run < starts["sd3", "steps"].steps_run
    with pytest.raises(ValueError, match="`noise_rule` must be one of"):
        GenieGenerator.from_pretrained(saved["sd"], noise_rule="snr")


def test_the_r_tables_script_prints_every_familys_meaning_of_r(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "r_tables.py"
    spec = importlib.util.spec_from_file_location("r_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables = module.main([])
    assert set(tables) == set(module.CASES) and "| 0.8 | 40 | 799 |" in capsys.readouterr().out
    sd3 = next(t for t in tables.values() if t["family"] == "sd3")
    row = next(r for r in sd3["rows"] if r["r"] == 0.8)
    assert row["steps"]["sigma"] > 0.9 and abs(row["sd15-snr"]["snr"] / row["sd15_snr"] - 1) < 0.2


def _family_lora(family: str, folder):
    """A LoRA for the tiny pipeline of `family`, made with peft on its denoiser (random, non-zero up-projections)
    and saved with the family's own `save_lora_weights`."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = make_tiny_family_pipeline(family)
    name = _denoiser(pipe)
    denoiser = getattr(pipe, name)
    denoiser.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(0)
    for param_name, param in denoiser.named_parameters():
        if "lora_B" in param_name:
            param.data = torch.randn(param.shape, generator=generator) * 0.5
    layers = get_peft_model_state_dict(denoiser)
    if name == "unet":
        layers = convert_state_dict_to_diffusers(layers)
    type(pipe).save_lora_weights(folder, **{f"{name}_lora_layers": layers}, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sdxl", "sd3", "flux-dev"])
def test_lora_weights_load_where_diffusers_supports_them_for_the_family(family, saved, rgb_images, tmp_path):
    pytest.importorskip("peft")
    lora = _family_lora(family, tmp_path)
    plain = _generator(saved[family])
    tuned = GenieGenerator.from_pretrained(
        saved[family], lora=str(lora), num_inference_steps=4, progress=False, resolution=32
    )
    a = plain.generate(rgb_images[:1], 1, 0.75, seed=0, prompts=PROMPTS)
    b = tuned.generate(rgb_images[:1], 1, 0.75, seed=0, prompts=PROMPTS)
    assert np.abs(_pixels(a.images[0]) - _pixels(b.images[0])).max() > 2  # the LoRA changes the image
    (adapter,) = b.records[0].adapters
    assert adapter["kind"] == "lora" and adapter["identity"].startswith("sha256:")


def test_steps_and_guidance_default_to_the_familys_own_and_are_known_before_loading(saved):
    expected = {"sd": (50, 7.5), "sdxl": (50, 7.5), "sd3": (28, 7.0), "flux-dev": (28, 3.5)}
    for family, (steps, guidance) in expected.items():
        gen = GenieGenerator.from_pretrained(saved[family], resolution=32)
        assert (gen.num_inference_steps, gen.guidance_scale) == (steps, guidance) and not gen.is_loaded
        assert gen.settings["num_inference_steps"] == steps and gen.settings["guidance_scale"] == guidance
        explicit = GenieGenerator.from_pretrained(saved[family], num_inference_steps=4, guidance_scale=2.0)
        assert (explicit.num_inference_steps, explicit.guidance_scale) == (4, 2.0)
        assert explicit.with_settings(num_inference_steps=6).num_inference_steps == 6


@pytest.mark.slow
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_short_sweep_starts_each_point_where_the_full_sweep_does_in_every_family(family, saved, rgb_images):
    """Cheap GeNIe-Ada's sweep: the same first denoiser input (noised latent and timestep) as the full sweep at every
    grid point, then `short_steps` passes of the family's own short scheduler; cheap Ada runs on every family."""
    gen = _generator(saved[family], num_inference_steps=8)
    denoiser = getattr(gen.pipe, _denoiser(gen.pipe))
    grid, kwargs = (0.5, 0.75, 1.0), {"seed": 1, "prompts": PROMPTS, "source_ids": ["a", "b"], "batch_size": 4}
    with DenoiserCalls(denoiser) as full_calls:
        full = gen.sweep(rgb_images[:2], [1, 2], grid, **kwargs)
    with DenoiserCalls(denoiser) as short_calls:
        short = gen.sweep(rgb_images[:2], [1, 2], grid, short_steps=2, **kwargs)
    steps = [int(8 * r) for r in grid]
    assert len(short_calls) == 2 * len(grid) and len(full_calls) == sum(steps)
    for j in range(len(grid)):
        (x, t), (y, u) = full_calls[sum(steps[:j])], short_calls[2 * j]
        assert t == u and torch.equal(x, y)
    solver = "FlowMatchEulerDiscreteScheduler" if FAMILY[family] in ("sd3", "flux") else "DPMSolverMultistepScheduler"
    for a, b in zip(full.records, short.records):
        for x, y in zip(a, b):
            assert (x.start_sigma, x.noise_seed) == (y.start_sigma, y.noise_seed)
            assert y.steps_run == 2 and y.scheduler == solver
    assert gen.pipe.scheduler.__class__.__name__ == full.records[0][0].scheduler  # the pipeline's is untouched
    embedder = Embedder(pooled, name="pooled")
    protos = {c: embedder(rgb_images[c : c + 1])[0] for c in range(3)}
    out = GenieAda(gen, embedder, grid=grid, mode="cheap", cheap_steps=2).run(
        rgb_images[:2], [1, 2], prototypes=protos, seed=1, prompts=PROMPTS, source_ids=["a", "b"]
    )
    again = gen.generate(rgb_images[:2], [1, 2], [r["r_star"] for r in out.table], **kwargs)
    for x, y in zip(out.images, again.images):
        np.testing.assert_allclose(_pixels(x), _pixels(y), atol=2)
