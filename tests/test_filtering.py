import math

import numpy as np
import pytest
import torch
from datasets import load_dataset
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.ada import GenieAda, class_prototypes
from genie_transforms.datasets import generate_hard_negatives
from genie_transforms.embedders import Embedder
from genie_transforms.filtering import RULE, HardNegativeFilter
from genie_transforms.parquet import write_parquet


def colour(x: torch.Tensor) -> torch.Tensor:
    """Mean colour of an image: a 3-d embedding whose geometry is easy to reason about."""
    return x.mean(dim=(2, 3))


def solid(rgb) -> Image.Image:
    return Image.new("RGB", (32, 32), rgb)


@pytest.fixture
def colour_filter():
    embedder = Embedder(colour, name="colour")
    red, green, blue = solid((255, 0, 0)), solid((0, 255, 0)), solid((0, 0, 255))
    return HardNegativeFilter(embedder, class_prototypes(embedder, [red, green, blue], [0, 1, 2]))


def test_an_image_is_kept_when_nearer_its_target_than_every_third_class(colour_filter):
    # target 1 (green); source 0 (red): an image between red and green is a hard negative, blue is a failure
    reddish_green, blue = solid((200, 230, 0)), solid((0, 40, 255))
    kept, failed = colour_filter([reddish_green, blue], [1, 1], source_labels=[0, 0])
    assert kept.kept and kept.score > 0
    assert not failed.kept and failed.score < 0


def test_the_source_class_is_not_a_third_class(colour_filter):
    """Near the source is what a hard negative is: it is kept unless a third class is nearer than the target."""
    mostly_red = solid((255, 60, 0))  # nearer red (the source) than green (the target), far from blue
    with_source = colour_filter([mostly_red], [1], source_labels=[0])[0]
    without_source = colour_filter([mostly_red], [1])[0]  # unknown source: red counts as a third class
    assert with_source.kept and not without_source.kept
    e = np.array([1.0, 60 / 255, 0.0])
    e /= np.linalg.norm(e)

    def distance(c):
        return np.linalg.norm(e - np.eye(3)[c])

    assert with_source.score == pytest.approx(distance(2) - distance(1), abs=1e-4)
    assert without_source.score == pytest.approx(distance(0) - distance(1), abs=1e-4)


def test_margin_and_two_class_case(colour_filter):
    image = solid((200, 230, 0))
    score = colour_filter.scores([image], [1], [0])[0]
    strict = HardNegativeFilter(
        colour_filter.embedder,
        {0: colour_filter.matrix[0], 1: colour_filter.matrix[1], 2: colour_filter.matrix[2]},
        margin=score + 0.01,
    )
    assert not strict([image], [1], [0])[0].kept
    two = HardNegativeFilter(colour_filter.embedder, {0: colour_filter.matrix[0], 1: colour_filter.matrix[1]})
    decision = two([image], [1], [0])[0]
    assert decision.kept and math.isinf(decision.score)


def test_bad_filter_input_is_named(colour_filter):
    with pytest.raises(TypeError, match="Embedder"):
        HardNegativeFilter(colour, {0: np.ones(3)})
    with pytest.raises(ValueError, match="empty"):
        HardNegativeFilter(colour_filter.embedder, {})
    with pytest.raises(ValueError, match="finite number"):
        HardNegativeFilter(colour_filter.embedder, {0: np.ones(3)}, margin=float("nan"))
    with pytest.raises(ValueError, match=r"Classes \[7\] have no prototype"):
        colour_filter([solid((0, 0, 0))], [7])
    with pytest.raises(ValueError, match="one target per image"):
        colour_filter([solid((0, 0, 0))], [1, 2])


@pytest.fixture
def tiny_filter(tiny_model_path, rgb_images):
    embedder = Embedder(colour, name="colour")
    return HardNegativeFilter(embedder, class_prototypes(embedder, rgb_images, [0, 1, 2, 3]))


def test_the_engine_records_each_decision_and_returns_every_image(tiny_generator, tiny_filter, prompts, rgb_images):
    plain = tiny_generator.generate(rgb_images, [1, 2, 3, 0], 0.8, seed=0, prompts=prompts)
    out = tiny_generator.generate(
        rgb_images,
        [1, 2, 3, 0],
        0.8,
        seed=0,
        prompts=prompts,
        hard_negative_filter=tiny_filter,
        source_labels=[0, 1, 2, 3],
    )
    assert all(r.filter_kept is None and r.filter_rule is None for r in plain.records)
    for a, b in zip(plain.images, out.images):  # the filter decides; it never changes an image
        assert np.array_equal(np.asarray(a), np.asarray(b))
    expected = tiny_filter(plain.images, [1, 2, 3, 0], [0, 1, 2, 3])
    assert [(r.filter_kept, r.filter_score) for r in out.records] == [(d.kept, d.score) for d in expected]
    assert RULE in out.records[0].filter_rule and '"embedder": "colour"' in out.records[0].filter_rule
    kept = out.kept()
    assert len(kept) == sum(d.kept for d in expected) and all(r.filter_kept for r in kept.records)
    with pytest.raises(ValueError, match="only used by a `hard_negative_filter`"):
        tiny_generator.generate(rgb_images[:1], 1, 0.8, seed=0, prompts=prompts, source_labels=[0])


def test_ada_records_the_filter_on_the_chosen_image(tiny_model_path, tiny_filter, prompts, rgb_images):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False)
    ada = GenieAda(gen, tiny_filter.embedder)
    protos = {c: tiny_filter.matrix[i] for i, c in enumerate(tiny_filter.classes)}
    out = ada.run(
        rgb_images[:3],
        [1, 2, 3],
        prototypes=protos,
        seed=0,
        prompts=prompts,
        source_labels=[0, 1, 2],
        hard_negative_filter=tiny_filter,
    )
    expected = tiny_filter(out.images, [1, 2, 3], [0, 1, 2])
    assert [row["filter_kept"] for row in out.table] == [d.kept for d in expected]
    assert [row["filter_score"] for row in out.table] == [r.filter_score for r in out.records]


def test_dataset_rows_carry_the_decision_after_a_parquet_round_trip(
    tiny_generator, tiny_filter, make_dataset, tmp_path
):
    ds = make_dataset(4)
    plain = generate_hard_negatives(ds, tiny_generator, targets="random_k:1", load_from_cache_file=False)
    filtered = generate_hard_negatives(
        ds, tiny_generator, targets="random_k:1", hard_negative_filter=tiny_filter, load_from_cache_file=False
    )
    assert "filter_kept" not in plain.column_names
    assert filtered._fingerprint != plain._fingerprint
    stricter = HardNegativeFilter(tiny_filter.embedder, dict(zip(tiny_filter.classes, tiny_filter.matrix)), margin=0.5)
    assert (
        generate_hard_negatives(
            ds, tiny_generator, targets="random_k:1", hard_negative_filter=stricter, load_from_cache_file=False
        )._fingerprint
        != filtered._fingerprint
    )
    write_parquet(filtered, tmp_path / "data" / "train-00000-of-00001.parquet")
    back = load_dataset(str(tmp_path), split="train")
    assert back.features["filter_kept"].dtype == "bool" and back.features["filter_score"].dtype == "float64"
    images = [row["image"] for row in back]
    expected = tiny_filter(images, back["label"], back["source_label"])
    assert back["filter_kept"] == [d.kept for d in expected]
    np.testing.assert_allclose(back["filter_score"], [d.score for d in expected], atol=1e-6)
    kept = back.filter(lambda k: k, input_columns="filter_kept")
    assert len(kept) == sum(d.kept for d in expected)
