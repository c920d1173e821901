import numpy as np
import pytest
import torch

from genie_transforms import GenieGenerator
from genie_transforms.ada import (
    TABLE_SETTINGS,
    GenieAda,
    ada_select,
    check_grid,
    class_prototypes,
    generate_from_table,
    source_hash,
)
from genie_transforms.embedders import Embedder
from genie_transforms.errors import GenieWarning


def test_ada_select_reproduces_the_reference_formula():
    rng = np.random.default_rng(0)
    source, proto = rng.normal(size=8), rng.normal(size=8)
    generated = rng.normal(size=(5, 8))
    index, s, d = ada_select(source, generated, proto)
    v = proto - source
    expected_s = np.array([g @ v for g in generated]) / np.linalg.norm(v)
    np.testing.assert_allclose(s, expected_s)
    np.testing.assert_allclose(d, np.abs(np.diff(expected_s)))
    assert index == int(np.argmax(np.abs(np.diff(expected_s)))) + 1


def test_ada_picks_the_sample_right_after_the_largest_jump_first_on_ties():
    source, proto = np.array([0.0, 0.0]), np.array([1.0, 0.0])  # v = (1, 0): s is the first coordinate

    def curve(xs):
        return np.array([[x, 0.0] for x in xs])

    assert ada_select(source, curve([0.0, 0.1, 0.8, 0.9, 1.0]), proto)[0] == 2  # jump 0.1 -> 0.8
    assert ada_select(source, curve([0.0, 0.5, 1.0, 1.0, 1.5]), proto)[0] == 1  # ties: the first one wins
    assert ada_select(source, curve([1.0, 0.2, 0.2, 0.2, 0.2]), proto)[0] == 1  # absolute value of the jump


def test_grid_and_selection_errors():
    with pytest.raises(ValueError, match="at least two"):
        check_grid([0.8], 50)
    with pytest.raises(ValueError, match=r"\(0.0, 1.0\]"):
        check_grid([0.5, 1.2], 50)
    with pytest.raises(ValueError, match="strictly increasing"):
        check_grid([0.7, 0.5], 50)
    with pytest.raises(ValueError, match="direction"):
        ada_select(np.ones(2), np.zeros((3, 2)), np.ones(2))


def pooled(x: torch.Tensor) -> torch.Tensor:
    """A small hand-made embedder: mean colour and mean of each image quadrant (12 features)."""
    q = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)
    return torch.cat([x.mean(dim=(2, 3)), q], dim=1)


@pytest.fixture
def ada_setup(tiny_model_path, prompts, rgb_images):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False)
    embedder = Embedder(pooled, name="pooled")
    protos = class_prototypes(embedder, rgb_images, [0, 1, 2, 3])
    return gen, embedder, protos


def test_exact_ada_returns_the_sweep_image_at_r_star_and_a_complete_table(ada_setup, prompts, rgb_images):
    gen, embedder, protos = ada_setup
    ada = GenieAda(gen, embedder)
    out = ada.run(
        rgb_images[:3],
        [1, 2, 3],
        prototypes=protos,
        seed=0,
        prompts=prompts,
        source_ids=["a", "b", "c"],
        source_labels=[0, 1, 2],
    )
    assert out.labels == [1, 2, 3]
    row = out.table[0]
    assert set(row) == {
        "source_id",
        "source_label",
        "target",
        "r_star",
        "grid",
        "projections",
        "jumps",
        "mode",
        "embedder",
        "seed",
        "noise_seed",
        "model_id",
        "model_revision",
        "source_sha256",
        *TABLE_SETTINGS,
    }
    assert row["num_inference_steps"] == gen.num_inference_steps and row["model_family"] == "sd"
    assert row["source_sha256"] == source_hash(rgb_images[0])
    assert row["grid"] == [0.5, 0.6, 0.7, 0.8, 0.9] and len(row["projections"]) == 5 and len(row["jumps"]) == 4
    assert row["r_star"] == row["grid"][int(np.argmax(row["jumps"])) + 1] and row["embedder"] == "pooled"
    for i, rec in enumerate(out.records):
        assert rec.noise_ratio == out.table[i]["r_star"]
    # the whole sweep of a pair shares one noise tensor: the chosen image is the sweep's image at r*
    sweep = gen.generate([rgb_images[0]] * 5, [1] * 5, list(ada.grid), seed=0, prompts=prompts, source_ids=["a"] * 5)
    assert len({r.noise_seed for r in sweep.records}) == 1
    k = ada.grid.index(row["r_star"])
    np.testing.assert_allclose(np.asarray(sweep.images[k], float), np.asarray(out.images[0], float), atol=2)


def test_noise_table_reproduces_the_images_without_the_sweep(ada_setup, prompts, rgb_images, monkeypatch):
    gen, embedder, protos = ada_setup
    out = GenieAda(gen, embedder).run(
        rgb_images[:2], [3, 0], prototypes=protos, seed=4, prompts=prompts, source_ids=["x", "y"]
    )
    monkeypatch.setattr(Embedder, "__call__", lambda *a: pytest.fail("the embedder must not run"))
    again = generate_from_table(gen, rgb_images[:2], out.table, prompts)
    for a, b in zip(out.images, again.images):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=2)
    assert [r.noise_ratio for r in again.records] == [row["r_star"] for row in out.table]


def test_cheap_mode_sweeps_coarsely_and_generates_in_full_only_at_r_star(ada_setup, prompts, rgb_images):
    gen, embedder, protos = ada_setup
    with pytest.warns(GenieWarning, match="cheap_steps=5"):  # 5 steps cannot resolve the grid: warned, still runs
        ada = GenieAda(gen, embedder, mode="cheap", cheap_steps=5)
    assert ada.sweeper.num_inference_steps == 5 and gen.num_inference_steps == 10
    cheap = ada.run(rgb_images[:2], [1, 2], prototypes=protos, seed=0, prompts=prompts, source_ids=["a", "b"])
    assert ada.sweeper.pipe.unet is gen.pipe.unet  # one set of weights for both schedules
    for row, rec in zip(cheap.table, cheap.records):
        assert row["mode"] == "cheap" and rec.noise_ratio == row["r_star"] and rec.steps_run == int(10 * row["r_star"])
    with pytest.raises(ValueError, match="Use noise_ratio >="):
        GenieAda(gen, embedder, mode="cheap", cheap_steps=1)  # int(1 * 0.5) = 0 steps
    again = generate_from_table(gen, rgb_images[:2], cheap.table, prompts)
    np.testing.assert_allclose(np.asarray(cheap.images[0], float), np.asarray(again.images[0], float), atol=2)


def test_ada_errors(ada_setup, prompts, rgb_images):
    gen, embedder, protos = ada_setup
    with pytest.raises(ValueError, match=r"Target classes \[3\] have no prototype"):
        GenieAda(gen, embedder).run(rgb_images[:1], [3], prototypes={1: protos[1]}, seed=0, prompts=prompts)
    with pytest.raises(ValueError, match="returned shape"):
        GenieAda(gen, Embedder(lambda x: x)).run(rgb_images[:1], [1], prototypes=protos, seed=0, prompts=prompts)
    with pytest.raises(ValueError, match="at least two"):
        GenieAda(gen, embedder, grid=[0.5])
    with pytest.raises(ValueError, match="mode"):
        GenieAda(gen, embedder, mode="fast")
    with pytest.raises(TypeError, match="Embedder"):
        GenieAda(gen, pooled)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="`cheap_steps` must be an int >= 1"):
            GenieAda(gen, embedder, mode="cheap", cheap_steps=bad)


def test_default_source_ids_are_pixel_hashes_not_positions(ada_setup, prompts, rgb_images):
    """Two runs on different images must not share noise by position."""
    gen, embedder, protos = ada_setup
    ada = GenieAda(gen, embedder, grid=(0.5, 1.0))
    a = ada.run(rgb_images[:1], [2], prototypes=protos, seed=0, prompts=prompts)
    b = ada.run(rgb_images[1:2], [2], prototypes=protos, seed=0, prompts=prompts)
    assert a.table[0]["source_id"] != b.table[0]["source_id"] != "0"
    assert a.table[0]["noise_seed"] != b.table[0]["noise_seed"]


def test_a_cheap_schedule_that_cannot_resolve_the_grid_is_warned_about(ada_setup):
    """On 6 steps, r = 0.5 and 0.6 both run 3 steps: identical sweep images, a jump of 0 between them."""
    gen, embedder, _ = ada_setup
    with pytest.warns(GenieWarning, match=r"cheap_steps=6 .* Use cheap_steps >= 9"):
        assert not GenieAda(gen, embedder, mode="cheap", cheap_steps=6).distinct_sweep_steps
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GenieAda(gen, embedder, mode="cheap", cheap_steps=10).distinct_sweep_steps
