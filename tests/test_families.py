"""Every supported model family end to end (`genie_transforms.families`), on tiny random pipelines built in code as
diffusers' own tests build them: as an object and saved to and loaded from a folder; a row alone equals the row in
a batch; r = 1 is text-to-image, equal to the family's own diffusers text-to-image pipeline started from the row's
noise; records name the family and the start's noise level."""

import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator
from genie_transforms.families import family_name
from genie_transforms.seeding import derive_seed, row_noise
from genie_transforms.testing import TINY_FAMILIES, make_tiny_family_pipeline, save_tiny_pipeline

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
