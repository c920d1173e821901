import itertools

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

from .helpers import DenoiserCalls


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
        "cheap_steps",
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


def test_the_cheap_sweep_starts_every_grid_point_exactly_where_the_exact_sweep_does(ada_setup, prompts, rgb_images):
    """The silent failure: a cheap sweep that starts elsewhere (another noise or timestep) still picks an r*."""
    gen, _, _ = ada_setup
    grid = (0.5, 0.7, 0.9)
    kwargs = {"seed": 2, "prompts": prompts, "source_ids": ["a", "b"], "batch_size": 8}
    with DenoiserCalls(gen.pipe.unet) as exact_calls:
        exact = gen.sweep(rgb_images[:2], [1, 2], grid, **kwargs)
    with DenoiserCalls(gen.pipe.unet) as short_calls:
        short = gen.sweep(rgb_images[:2], [1, 2], grid, short_steps=3, **kwargs)
    steps = [int(10 * r) for r in grid]  # one batch per grid point (both pairs), in r order
    exact_firsts = [exact_calls[sum(steps[:j])] for j in range(len(grid))]
    short_firsts = [short_calls[3 * j] for j in range(len(grid))]
    assert len(exact_calls) == sum(steps) and len(short_calls) == 3 * len(grid)
    for (x, t), (y, u) in zip(exact_firsts, short_firsts):
        assert t == u and torch.equal(x, y)  # the same noised latent at the same timestep
    t0 = exact_firsts[0][1]  # the short schedule: t0 * sqrt(1 - i / 3)
    assert [c[1] for c in short_calls[:3]] == [t0, round(t0 * (2 / 3) ** 0.5), round(t0 * (1 / 3) ** 0.5)]
    for a, b in zip(exact.records, short.records):
        for x, y in zip(a, b):
            assert (x.start_timestep, x.noise_seed, x.noise_ratio) == (y.start_timestep, y.noise_seed, y.noise_ratio)
            assert y.steps_run == 3 and y.scheduler == "DPMSolverMultistepScheduler"
    # a short sweep does not collapse: every grid point has an image of its own
    for row in short.images:
        assert all(not np.array_equal(np.asarray(p), np.asarray(q)) for p, q in itertools.pairwise(row))
    with pytest.raises(ValueError, match="`short_steps` must be an int >= 1"):
        gen.sweep(rgb_images[:1], [1], grid, short_steps=0, **{**kwargs, "source_ids": ["a"]})


def test_cheap_mode_costs_the_short_sweep_plus_one_full_generation_at_r_star(ada_setup, prompts, rgb_images):
    gen, embedder, protos = ada_setup
    ada = GenieAda(gen, embedder, mode="cheap", cheap_steps=2)
    with DenoiserCalls(gen.pipe.unet) as calls:
        cheap = ada.run(
            rgb_images[:2], [1, 2], prototypes=protos, seed=0, prompts=prompts, source_ids=["a", "b"], batch_size=8
        )
    r_star = sorted({row["r_star"] for row in cheap.table})
    assert len(calls) == 2 * len(ada.grid) + sum(int(10 * r) for r in r_star)  # passes, counted
    for row, rec in zip(cheap.table, cheap.records):
        assert (row["mode"], row["cheap_steps"]) == ("cheap", 2)
        assert rec.noise_ratio == row["r_star"] and rec.steps_run == int(10 * row["r_star"])  # the full schedule
    again = gen.generate(
        rgb_images[:2], [1, 2], [row["r_star"] for row in cheap.table], seed=0, prompts=prompts, source_ids=["a", "b"]
    )
    for a, b in zip(cheap.images, again.images):  # the kept image is GeNIe's own at r*
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=2)
    exact = GenieAda(gen, embedder).run(rgb_images[:1], [1], prototypes=protos, seed=0, prompts=prompts)
    assert exact.table[0]["cheap_steps"] is None
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


def test_a_schedule_that_cannot_resolve_the_grid_is_warned_about(ada_setup, tiny_model_path):
    """On 6 steps, r = 0.5 and 0.6 both start 3 steps from the end: identical images, a jump of 0 between them."""
    gen, embedder, _ = ada_setup
    coarse = gen.with_settings(num_inference_steps=6)
    for mode in ("exact", "cheap"):
        with pytest.warns(GenieWarning, match=r"With 6 steps, .* Use num_inference_steps >= 9"):
            GenieAda(coarse, embedder, mode=mode)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GenieAda(gen, embedder, mode="cheap", cheap_steps=1)  # 10 steps resolve the grid; 1 short step is allowed
