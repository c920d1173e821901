"""The classic augmentations of the few-shot baselines (`genie_transforms.evaluation.augment`)."""

import numpy as np
import pytest
from PIL import Image

from genie_transforms.evaluation.augment import cutmix, mixup, random_resized_crop, strong


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    b = Image.fromarray(np.full((16, 16, 3), 200, np.uint8))
    return a, b


@pytest.mark.parametrize("augment", [random_resized_crop, strong])
def test_crops_keep_the_size_and_are_reproducible_under_the_generator(pair, augment):
    a, _ = pair
    out = augment(a, np.random.default_rng(5))
    assert out.size == a.size and out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(augment(a, np.random.default_rng(5))))
    assert any(not np.array_equal(np.asarray(out), np.asarray(augment(a, np.random.default_rng(s)))) for s in range(6))


def test_no_flip_never_mirrors():
    ramp = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3)))
    for seed in range(8):
        out = np.asarray(random_resized_crop(ramp, np.random.default_rng(seed), scale=(1.0, 1.0), flip=False), int)
        assert (np.diff(out[0, :, 0]) >= 0).all()  # the ramp still rises left to right


def test_mixup_keeps_most_of_the_first_image(pair):
    a, b = pair
    out = np.asarray(mixup(a, b, np.random.default_rng(1)), float)
    lam = np.random.default_rng(1).uniform(0.5, 1.0)
    expected = lam * np.asarray(a, float) + (1 - lam) * 200
    assert out.shape == np.asarray(a).shape and np.abs(out - expected).max() <= 1


def test_cutmix_pastes_one_box_of_the_second_image_over_at_most_half(pair):
    a, b = pair
    out = np.asarray(cutmix(a, b, np.random.default_rng(2)))
    changed = (out != np.asarray(a)).any(axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    assert 0 < changed.sum() <= 0.5 * changed.size
    box = out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert (box == 200).all()  # one rectangle, all of it from b
