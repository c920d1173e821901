import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from genie_transforms import GenieGenerator, PromptMap, UnknownLabelError, derive_seed
from genie_transforms.seeding import row_noise
from genie_transforms.testing import make_tiny_pipeline


def _pixels(image):
    return np.asarray(image, dtype=np.float64)


def test_deterministic_under_a_seed(tiny_generator, prompts, rgb_images):
    a = tiny_generator.generate(rgb_images, [1, 2, 3, 0], 0.75, seed=3, prompts=prompts)
    b = tiny_generator.generate(rgb_images, [1, 2, 3, 0], 0.75, seed=3, prompts=prompts)
    c = tiny_generator.generate(rgb_images, [1, 2, 3, 0], 0.75, seed=4, prompts=prompts)
    for x, y in zip(a.images, b.images):
        np.testing.assert_array_equal(_pixels(x), _pixels(y))
    assert any(np.abs(_pixels(x) - _pixels(z)).max() > 10 for x, z in zip(a.images, c.images))


def test_batch_and_order_invariance_with_mixed_targets_and_ratios(tiny_generator, prompts, rgb_images):
    targets, ratios, ids = [1, 2, 3, 0], [0.5, 0.75, 1.0, 0.75], ["a", "b", "c", "d"]
    batched = tiny_generator.generate(
        rgb_images, targets, ratios, seed=0, prompts=prompts, source_ids=ids, batch_size=3
    )
    order = [2, 0, 3, 1]
    shuffled = tiny_generator.generate(
        [rgb_images[i] for i in order],
        [targets[i] for i in order],
        [ratios[i] for i in order],
        seed=0,
        prompts=prompts,
        source_ids=[ids[i] for i in order],
        batch_size=4,
    )
    for i in range(4):
        alone = tiny_generator.generate(
            [rgb_images[i]], [targets[i]], ratios[i], seed=0, prompts=prompts, source_ids=[ids[i]]
        )
        np.testing.assert_allclose(_pixels(batched.images[i]), _pixels(alone.images[0]), atol=2)
        np.testing.assert_allclose(_pixels(shuffled.images[order.index(i)]), _pixels(alone.images[0]), atol=2)
        assert batched.records[i] == alone.records[0]


@pytest.fixture
def captured_noise(monkeypatch):
    """Record the starting noise of every denoised batch (a spy on the family adapter's noising; it still runs)."""
    from genie_transforms.families import Family

    drawn = []
    real = Family.noised

    def spy(self, x0, noise, timesteps, pure):
        drawn.append(noise.clone())
        return real(self, x0, noise, timesteps, pure)

    monkeypatch.setattr(Family, "noised", spy)
    return drawn


def test_noise_is_shared_over_r_and_differs_between_pairs(tiny_model_path, prompts, rgb_images, captured_noise):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    img = rgb_images[0]
    gen.generate([img, img], [1, 1], [0.5, 1.0], seed=0, prompts=prompts, source_ids=["s", "s"])
    assert len(captured_noise) == 2  # two r groups, one row each
    torch.testing.assert_close(captured_noise[0], captured_noise[1])
    captured_noise.clear()
    gen.generate([img, img], [1, 2], 0.5, seed=0, prompts=prompts, source_ids=["s", "s"])
    (noise,) = captured_noise
    assert not torch.allclose(noise[0], noise[1])
    torch.testing.assert_close(noise[0], row_noise(derive_seed(0, "s", 1), tuple(noise[0].shape)))


def test_a_sweep_is_one_trajectory_per_pair_and_equals_generating_its_rows(tiny_generator, prompts, rgb_images):
    ratios = (0.5, 0.75, 1.0)
    sweep = tiny_generator.sweep(
        rgb_images[:3], [1, 2, 3], ratios, seed=2, prompts=prompts, source_ids=["a", "b", "c"], batch_size=4
    )
    assert len(sweep) == 3 and sweep.ratios == ratios and len(sweep.flat()) == 9
    for i, (row, records) in enumerate(zip(sweep.images, sweep.records)):
        assert [r.noise_ratio for r in records] == list(ratios)
        assert {r.noise_seed for r in records} == {derive_seed(2, "abc"[i], i + 1)}  # one noise tensor over r
        for j, r in enumerate(ratios):
            alone = tiny_generator.generate([rgb_images[i]], [i + 1], r, seed=2, prompts=prompts, source_ids=["abc"[i]])
            assert alone.records[0] == records[j]
            np.testing.assert_allclose(_pixels(row[j]), _pixels(alone.images[0]), atol=2)
    picked = sweep.pick([2, 0, 1])
    assert [r.noise_ratio for r in picked.records] == [1.0, 0.5, 0.75] and picked.images[1] is sweep.images[1][0]
    one_target = tiny_generator.sweep(rgb_images[:2], 3, ratios[:2], seed=2, prompts=prompts)
    assert [r.target for row in one_target.records for r in row] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="2 choices for 3 pairs"):
        sweep.pick([0, 1])
    with pytest.raises(ValueError, match="`ratios` is empty"):
        tiny_generator.sweep(rgb_images, 1, [], seed=0, prompts=prompts)
    with pytest.raises(ValueError, match="`targets` has 2 values for 4 images"):
        tiny_generator.sweep(rgb_images, [1, 2], ratios, seed=0, prompts=prompts)


def test_noise_depends_on_all_63_bits_of_the_seed():
    """Torch's CPU generator keeps only the low 32 bits of a seed; the engine's noise uses all of them."""
    low = 123_456_789
    a, b = row_noise(low, (4, 8, 8)), row_noise(low + (1 << 40), (4, 8, 8))
    assert torch.equal(
        torch.randn(3, generator=torch.Generator().manual_seed(low)),
        torch.randn(3, generator=torch.Generator().manual_seed(low + (1 << 40))),
    )  # the collision
    assert not torch.allclose(a, b)
    assert torch.equal(a, row_noise(low, (4, 8, 8)))  # and it is deterministic
    expected = np.random.Generator(np.random.PCG64(low)).standard_normal((4, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(a.numpy(), expected)  # the documented rule


def test_r_one_is_text_to_image_and_needs_no_source():
    """The method: at r = 1 nothing of the source is left (diffusers' strength=1 keeps about 7% of it)."""
    from genie_transforms.digits import digits_arrays, digits_prompt_map

    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=10, progress=False)
    images, _, _ = digits_arrays("heldout")
    sources, prompts = [Image.fromarray(images[i]) for i in (0, 1)], digits_prompt_map()
    a = gen.generate(sources, [7, 7], 1.0, seed=0, prompts=prompts, source_ids=["x", "x"])
    np.testing.assert_array_equal(_pixels(a.images[0]), _pixels(a.images[1]))  # different sources, same image
    assert a.records[0].text_to_image and a.records[0].steps_run == 10
    t2i = gen.text_to_image([7], seed=0, prompts=prompts, source_ids=["x"])
    np.testing.assert_allclose(_pixels(t2i.images[0]), _pixels(a.images[0]), atol=2)
    assert t2i.images[0].size == (32, 32) and t2i.records[0].text_to_image and t2i.labels == [7]
    below = gen.generate(sources, [7, 7], 0.5, seed=0, prompts=prompts, source_ids=["x", "x"])
    assert not below.records[0].text_to_image
    assert np.abs(_pixels(below.images[0]) - _pixels(below.images[1])).mean() > 10  # below 1 the source matters


def test_labels_are_targets_and_provenance_is_complete(tiny_generator, prompts, rgb_images, tiny_model_path):
    out = tiny_generator.generate(rgb_images[:2], ["dog", 3], 0.75, seed=5, prompts=prompts, source_ids=[10, 11])
    assert out.labels == [1, 3]
    rec = out.records[0].to_dict()
    assert rec["target"] == 1 and rec["target_name"] == "dog" and rec["prompt"] == "a photo of a dog."
    assert rec["source_id"] == "10" and rec["seed"] == 5 and rec["noise_seed"] == derive_seed(5, "10", 1)
    assert rec["noise_ratio"] == 0.75 and rec["steps_run"] == 3 and rec["num_inference_steps"] == 4
    assert rec["model_id"] == str(tiny_model_path) and rec["scheduler"] == "DPMSolverMultistepScheduler"
    assert rec["guidance_scale"] == 7.5 and rec["resolution"] == 32 and rec["library_version"]
    assert 0 < rec["start_timestep"] < 1000 and rec["noise_scheme"] == "pcg64-v1" and rec["dtype"] == "float32"
    assert rec["model_revision"].startswith("sha256:") and rec["prompt_template"] == "a photo of a {}."
    unset = {"model_variant", "filter_rule", "filter_kept", "filter_score"}  # no variant, no filter in this call
    assert all(v is not None for k, v in rec.items() if k not in unset)


def test_every_input_form_comes_back_in_its_form_and_size(tiny_generator, prompts):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    forms = [
        Image.fromarray(rgb),
        Image.fromarray(rgb[..., 0]),
        Image.fromarray(np.concatenate([rgb, np.full((24, 40, 1), 128, np.uint8)], 2)),
        rgb,
        rgb[..., 0],
        rgb.astype(np.float32) / 255,
        torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),
        torch.from_numpy(rgb).permute(2, 0, 1).float() / 255,
    ]
    out = tiny_generator.generate(forms, 1, 0.5, seed=0, prompts=prompts)
    for before, after in zip(forms, out.images):
        assert type(after) is type(before)
        if isinstance(before, Image.Image):
            assert after.size == before.size and after.mode == before.mode
        else:
            assert after.shape == before.shape and after.dtype == before.dtype
    assert np.asarray(out.images[2])[..., 3].min() == 128  # alpha kept
    batch = tiny_generator.generate(np.stack([rgb, rgb]), 1, 0.5, seed=0, prompts=prompts)
    assert batch.images.shape == (2, 24, 40, 3) and batch.images.dtype == np.uint8


def test_caches_encode_each_source_and_prompt_once(tiny_model_path, prompts, rgb_images, monkeypatch):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    pipe = gen.pipe
    calls = {"vae": 0, "text": 0}
    real_encode, real_text = pipe.vae.encode, pipe.text_encoder.forward

    def vae_encode(x, *a, **k):
        calls["vae"] += len(x)
        return real_encode(x, *a, **k)

    def text_forward(input_ids, *a, **k):
        calls["text"] += len(input_ids)
        return real_text(input_ids, *a, **k)

    monkeypatch.setattr(pipe.vae, "encode", vae_encode)
    monkeypatch.setattr(pipe.text_encoder, "forward", text_forward)
    img = rgb_images[0]
    gen.generate([img] * 6, [1, 2, 3, 1, 2, 3], [0.5] * 3 + [1.0] * 3, seed=0, prompts=prompts)
    assert calls["vae"] == 1
    assert calls["text"] == 3 + 3  # three distinct prompts, and the empty prompt for each
    gen.generate([img], [1], 0.5, seed=0, prompts=prompts)
    assert calls["text"] == 6  # cached across calls


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"noise_ratio": 1.3}, ValueError, r"should be in \(0.0, 1.0\] but is 1.3"),
        ({"noise_ratio": 0.0}, ValueError, r"should be in \(0.0, 1.0\]"),
        ({"noise_ratio": 0.2}, ValueError, r"runs int\(4 \* 0.2\) = 0 denoising steps. Use noise_ratio >= 0.25"),
        ({"noise_ratio": "high"}, TypeError, "must be a float"),
        ({"targets": [7]}, UnknownLabelError, "Unknown target 7"),
        ({"targets": ["horse"]}, UnknownLabelError, "horse"),
        ({"targets": [1, 2]}, ValueError, "`targets` has 2 values for 1 images"),
        ({"noise_ratio": [0.5, 0.5]}, ValueError, "`noise_ratio` has 2 values for 1 images"),
        ({"images": []}, ValueError, "empty"),
        ({"images": ["x.png"]}, TypeError, r"images\[0\] is a str"),
        ({"images": [np.zeros((4, 4, 3), np.uint8)]}, ValueError, r"4x4 px, smaller than min_image_size=8"),
        ({"source_ids": ["a", "b"]}, ValueError, "one id per image"),
        ({"seed": -3}, ValueError, "seed"),
    ],
)
def test_bad_input_gets_a_clear_error(tiny_generator, prompts, rgb_images, kwargs, error, match):
    call = {"images": rgb_images[:1], "targets": [1], "noise_ratio": 0.5, "seed": 0, "prompts": prompts} | kwargs
    with pytest.raises(error, match=match):
        tiny_generator.generate(call.pop("images"), call.pop("targets"), call.pop("noise_ratio"), **call)


def test_unknown_label_error_is_a_value_error(tiny_generator, prompts, rgb_images):
    with pytest.raises(ValueError):
        tiny_generator.generate(rgb_images[:1], [9], 0.5, seed=0, prompts=prompts)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"scheduler": "plms"}, "Unknown scheduler 'plms'"),
        ({"timestep_spacing": "odd"}, "timestep_spacing"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_fail_at_construction(tiny_model_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenieGenerator.from_pretrained(tiny_model_path, **kwargs)


def test_resolution_must_fit_the_model(tiny_model_path):
    with pytest.raises(ValueError, match="not a multiple of 8"):
        GenieGenerator(make_tiny_pipeline(), resolution=36)


def test_wraps_a_pipeline_without_modifying_it_and_accepts_text_to_image(prompts, rgb_images):
    from diffusers import StableDiffusionPipeline

    img2img = make_tiny_pipeline()
    original = img2img.scheduler
    gen = GenieGenerator(img2img, num_inference_steps=2, scheduler="ddim", progress=False)
    assert img2img.scheduler is original and type(gen.pipe.scheduler).__name__ == "DDIMScheduler"
    txt2img = StableDiffusionPipeline(**img2img.components)
    out = GenieGenerator(txt2img, num_inference_steps=2, progress=False).generate(
        rgb_images[:1], 1, 1.0, seed=0, prompts=prompts
    )
    assert out.records[0].steps_run == 2
    with pytest.raises(TypeError, match="needs a diffusers pipeline"):
        GenieGenerator()


def test_turbo_style_settings_are_expressible(tiny_model_path, prompts, rgb_images):
    gen = GenieGenerator.from_pretrained(
        tiny_model_path,
        num_inference_steps=2,
        guidance_scale=0.0,
        scheduler="euler",
        timestep_spacing="trailing",
        progress=False,
    )
    out = gen.generate(rgb_images[:2], [1, 2], 0.5, seed=0, prompts=prompts)
    rec = out.records[0]
    assert rec.steps_run == 1 and rec.guidance_scale == 0.0 and rec.timestep_spacing == "trailing"
    assert rec.start_timestep == 499  # trailing spacing at 2 steps: [999, 499]
    assert gen.pipe.scheduler.config.timestep_spacing == "trailing"


def test_loads_offline_from_a_saved_folder_and_pickles_as_configuration(tiny_model_path, prompts, rgb_images):
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=2, progress=False)
    restored = pickle.loads(pickle.dumps(gen))
    assert not restored.is_loaded  # configuration only; loads lazily
    a = gen.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    assert len(pickle.dumps(gen)) < 10_000  # the loaded pipeline is not pickled
    b = restored.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    np.testing.assert_array_equal(_pixels(a.images[0]), _pixels(b.images[0]))


def test_a_hub_id_offline_and_a_missing_folder_fail_clearly():
    with pytest.raises(OSError, match="Could not get 'some-org/not-cached'"):
        GenieGenerator.from_pretrained("some-org/not-cached").pipe
    with pytest.raises(ValueError, match="not a model folder"):
        GenieGenerator.from_pretrained("./no/such/folder").pipe


def test_pickled_weights_are_refused_unless_allowed(tmp_path, prompts, rgb_images):
    make_tiny_pipeline().save_pretrained(tmp_path / "unsafe", safe_serialization=False)
    with pytest.raises(ValueError, match="no safetensors weights.*allow_pickle_weights=True"):
        GenieGenerator.from_pretrained(tmp_path / "unsafe").pipe
    gen = GenieGenerator.from_pretrained(tmp_path / "unsafe", allow_pickle_weights=True, num_inference_steps=2)
    assert gen.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts, progress=False).labels == [1]


def test_progress_bar_can_be_shown(tiny_generator, prompts, rgb_images, capsys):
    tiny_generator.generate(rgb_images[:2], 1, 0.5, seed=0, prompts=prompts, progress=True)
    assert "GeNIe" in capsys.readouterr().err


def test_a_cached_hub_model_loads_offline_and_records_its_commit(
    tiny_model_path, tmp_path, monkeypatch, prompts, rgb_images
):
    """The real Hub code path, offline: a model in the Hugging Face cache resolves to its snapshot's commit."""
    import shutil

    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--some-org--tiny-sd"
    shutil.copytree(tiny_model_path, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    gen = GenieGenerator.from_pretrained("some-org/tiny-sd", num_inference_steps=2, progress=False)
    assert gen.resolve_revision() == commit and not gen.is_loaded  # resolved without loading the weights
    out = gen.generate(rgb_images[:1], 1, 1.0, seed=0, prompts=prompts)
    assert out.records[0].model_id == "some-org/tiny-sd" and out.records[0].model_revision == commit


def test_every_use_goes_through_one_loader(tiny_model_path, prompts, rgb_images):
    """A generator with an explicit resolution never reads an unloaded pipeline (it used to fail with
    'NoneType' object has no attribute 'vae')."""
    gen = GenieGenerator.from_pretrained(tiny_model_path, resolution=32, num_inference_steps=2, progress=False)
    assert not gen.is_loaded and gen.resolution == 32
    assert gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts).labels == [1]
    lazy = GenieGenerator.from_pretrained(tiny_model_path, resolution=32, num_inference_steps=2, progress=False)
    assert lazy.load() is lazy and lazy.is_loaded


def test_with_settings_shares_the_weights_and_validates(tiny_model_path, prompts, rgb_images):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    coarse = gen.with_settings(num_inference_steps=2, scheduler="ddim")
    assert not gen.is_loaded and not coarse.is_loaded  # deriving loads nothing
    out = coarse.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts)
    assert out.records[0].steps_run == 1 and out.records[0].scheduler == "DDIMScheduler"
    assert coarse.pipe.unet is gen.pipe.unet and coarse.pipe.vae is gen.pipe.vae  # one set of weights
    assert gen.num_inference_steps == 4 and type(gen.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    with pytest.raises(ValueError, match="num_inference_steps"):
        gen.with_settings(num_inference_steps=0)
    with pytest.raises(TypeError, match=r"Unknown setting\(s\) \['steps'\]"):
        gen.with_settings(steps=3)
    gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts)
    assert gen._prompt_cache
    gen.clear_cache()
    assert not gen._prompt_cache


def test_concurrent_calls_from_two_threads_are_safe(tiny_model_path, prompts, rgb_images):
    from concurrent.futures import ThreadPoolExecutor

    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)
    expected = [gen.generate(rgb_images, [1, 2, 3, 0], r, seed=0, prompts=prompts) for r in (0.5, 0.75)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(gen.generate, rgb_images, [1, 2, 3, 0], r, seed=0, prompts=prompts)
            for r in (0.5, 0.75, 0.5, 0.75, 0.5, 0.75)
        ]
        results = [job.result() for job in jobs]
    for i, out in enumerate(results):
        for a, b in zip(out.images, expected[i % 2].images):
            np.testing.assert_array_equal(_pixels(a), _pixels(b))


def test_numpy_and_torch_scalars_are_accepted_and_bools_refused(tiny_generator, prompts, rgb_images):
    base = tiny_generator.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=prompts)
    for r, t in [(np.float32(0.5), np.int64(1)), (torch.tensor(0.5), torch.tensor(1)), (np.array(0.5), [np.int32(1)])]:
        out = tiny_generator.generate(rgb_images[:1], t, r, seed=0, prompts=prompts)
        assert out.labels == [1] and out.records[0].noise_ratio == 0.5
        np.testing.assert_array_equal(_pixels(out.images[0]), _pixels(base.images[0]))
    for bad in (True, [np.bool_(True)], [1.0]):
        with pytest.raises(TypeError, match="must be an int class index or a class name"):
            tiny_generator.generate(rgb_images[:1], bad, 0.5, seed=0, prompts=prompts)
    with pytest.raises(TypeError, match="`noise_ratio` must be a float"):
        tiny_generator.generate(rgb_images[:1], 1, True, seed=0, prompts=prompts)
    for bad in (float("nan"), float("inf"), -float("inf"), 1.5):  # a number out of range, as 1.5 is
        with pytest.raises(ValueError, match=r"should be in \(0.0, 1.0\] but is"):
            tiny_generator.generate(rgb_images[:1], 1, bad, seed=0, prompts=prompts)


@pytest.mark.parametrize("steps", [10, 20, 25, 50])
def test_step_count_is_immune_to_float32_rounding(steps):
    from genie_transforms import denoising_steps

    for r in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        exact = denoising_steps(r, steps)
        assert exact == int(round(steps * r, 9)) == denoising_steps(float(np.float32(r)), steps)
        assert denoising_steps(np.float32(r), steps) == exact
    assert denoising_steps(0.29, 100) == 29  # exact, where float64 0.29 * 100 = 28.999999999999996


def test_the_model_declares_its_prompt_template(tmp_path, tiny_model_path, prompts, rgb_images):
    import json
    import shutil
    import warnings

    folder = tmp_path / "templated"
    shutil.copytree(tiny_model_path, folder)
    (folder / "genie.json").write_text(json.dumps({"prompt_template": "a photo of the digit {}."}))
    gen = GenieGenerator.from_pretrained(folder, num_inference_steps=2, progress=False)
    assert gen.prompt_template == "a photo of the digit {}." and not gen.is_loaded
    out = gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=["cat", "dog"])  # names: the model's template
    assert out.records[0].prompt == "a photo of the digit dog."
    assert out.records[0].prompt_template == "a photo of the digit {}."
    with pytest.warns(UserWarning, match="differs from the one .* declares"):
        gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=PromptMap(["cat", "dog"]))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*declares")  # warned once per template, never for its own
        gen.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=PromptMap(["cat", "dog"]))
        gen.generate(
            rgb_images[:1], 1, 0.5, seed=0, prompts=PromptMap(["cat", "dog"], template="a photo of the digit {}.")
        )
    (folder / "genie.json").write_text(json.dumps({"prompt_template": "no slot"}))
    with pytest.raises(ValueError, match="exactly one"):
        GenieGenerator.from_pretrained(folder).prompt_template


def test_a_progress_bar_says_what_it_makes(tiny_generator, prompts, rgb_images, capfd):
    tiny_generator.generate(rgb_images[:1], targets=[1], noise_ratio=1.0, seed=0, prompts=prompts, progress=True)
    assert "GeNIe hard negatives" in capfd.readouterr().err
    tiny_generator.text_to_image([1], seed=0, prompts=prompts, progress=True)
    assert "text-to-image" in capfd.readouterr().err
    tiny_generator.sweep(rgb_images[:1], 1, (0.5, 1.0), seed=0, prompts=prompts, progress="grid.png (1/2)")
    assert "grid.png (1/2): 100%" in capfd.readouterr().err
    tiny_generator.generate(rgb_images[:1], targets=[1], noise_ratio=1.0, seed=0, prompts=prompts, progress=False)
    assert capfd.readouterr().err == ""
