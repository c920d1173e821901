"""A call as a plan of rows (`genie_transforms.plans`): validation, per-row values, the prompt cache, and the
records a plan's output carries."""

import numpy as np
import pytest
import torch

from genie_transforms.plans import PromptCache, UnknownLabelError, check_target, per_row


def test_per_row_repeats_one_value_and_checks_the_length_of_many():
    assert per_row(0.5, 3, "noise_ratio") == [0.5, 0.5, 0.5]
    assert (
        per_row(np.array([1, 2]), 2, "targets") == [1, 2]
        and per_row(torch.tensor(0.8), 2, "r") == [pytest.approx(0.8)] * 2
    )
    assert per_row("dog", 2, "targets") == ["dog", "dog"]
    with pytest.raises(ValueError, match="`targets` has 2 values for 3 images; give one per image"):
        per_row([1, 2], 3, "targets")


def test_a_target_is_an_index_or_a_name():
    assert check_target(np.int64(3)) == 3 and check_target("cat") == "cat"
    for bad in (True, 1.5, None):
        with pytest.raises(TypeError, match="int class index or a class name"):
            check_target(bad)
    assert str(UnknownLabelError("Unknown target 9")) == "Unknown target 9"


def test_a_plan_embeds_each_prompt_once_and_its_output_records_every_row(tiny_generator, prompts, rgb_images):
    gen = tiny_generator
    plan = gen.plan(rgb_images[:3], [1, 1, 2], [0.5, 1.0, 0.5], seed=7, prompts=prompts, source_ids=["a", "b", "c"])
    assert len(plan.embeds) == 2 and len(plan.latents) == 3 and set(plan.starts) == {0.5, 1.0}
    assert list(plan.chunks(1)) == [(0.5, [0]), (0.5, [2]), (1.0, [1])]
    assert list(plan.chunks(8)) == [(0.5, [0, 2]), (1.0, [1])]
    assert plan.starts[1.0].snr == 0 and plan.starts[0.5].steps_run == gen.num_inference_steps // 2
    rows = [0, 2]
    images = gen.denoise(plan, rows)
    assert [tuple(t.shape) for t in images] == [(3, gen.resolution, gen.resolution)] * 2
    with pytest.raises(ValueError, match="takes rows of one noise ratio"):
        gen.denoise(plan, [0, 1])
    out = gen.generate(rgb_images[:3], [1, 1, 2], [0.5, 1.0, 0.5], seed=7, prompts=prompts, source_ids=["a", "b", "c"])
    assert [r.source_id for r in out.records] == ["a", "b", "c"] and [r.target for r in out.records] == [1, 1, 2]
    assert out.records[1].text_to_image and out.records[0].noise_seed == plan.noise_seeds[0]
    assert out.records[0].model_family == "sd" and out.records[0].noise_rule == "steps"


def test_the_prompt_cache_keeps_embeddings_per_guidance_mode(tiny_generator):
    cache = PromptCache()
    family = tiny_generator.family
    first = cache.embed(family, ["a photo of a cat.", "a photo of a cat."], 7.5)
    assert len(cache) == 1 and set(first) == {"a photo of a cat."}
    again = cache.embed(family, ["a photo of a cat."], 7.5)
    assert again["a photo of a cat."] is first["a photo of a cat."]  # computed once
    cache.embed(family, ["a photo of a cat."], 0.0)  # no guidance: another entry (no negative embedding)
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_a_prompt_whose_class_name_the_text_encoder_would_cut_is_refused(tiny_generator, rgb_images):
    """The silent failure first: a long template pushes the class name past CLIP's 77 tokens, and every image
    would show no class at all."""
    import warnings

    from genie_transforms import PromptMap
    from genie_transforms.errors import GenieWarning

    long = PromptMap(["cat", "dog"], template="a photo " * 60 + "of a {}.")
    with pytest.raises(ValueError, match="class 'dog' is .* tokens and the model's text encoder reads 77: the class"):
        tiny_generator.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=long)
    tail = PromptMap(["cat", "dog"], template="a {} " + "photo " * 80)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tiny_generator.generate(rgb_images[:1], 1, 0.5, seed=0, prompts=tail)
    assert len(out.images) == 1
    assert any(
        issubclass(w.category, GenieWarning) and "after the class name are cut" in str(w.message) for w in caught
    )
