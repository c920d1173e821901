"""The context world: the digits' splits over contexts drawn independently of the class, and its context oracle."""

import numpy as np
import pytest

from genie_transforms.digits import (
    CONTEXT_NAMES,
    context_digits_arrays,
    digits_arrays,
    load_context_digits,
    read_context,
)
from genie_transforms.digits.context import STROKE, background, render


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_splits_are_the_digits_splits_with_a_context_column(split):
    ds = load_context_digits(split)
    _, labels, index = digits_arrays(split)
    assert ds.num_rows == len(labels) and ds["label"] == labels.tolist() and ds["digit_index"] == index.tolist()
    assert ds.features["context"].names == list(CONTEXT_NAMES) and ds.features["label"].names[0] == "zero"
    assert ds[0]["image"].mode == "RGB" and ds[0]["image"].size == (32, 32)
    again = load_context_digits(split)  # fixed per split
    assert again["context"] == ds["context"]
    assert np.array_equal(np.asarray(again[5]["image"]), np.asarray(ds[5]["image"]))


def test_contexts_are_drawn_independently_of_the_class():
    _, labels, contexts, _ = context_digits_arrays("train")
    table = np.zeros((10, len(CONTEXT_NAMES)))
    np.add.at(table, (labels, contexts), 1)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    assert table.min() > 0 and chi2 < 60  # 36 degrees of freedom: p > 0.005 under independence
    assert np.bincount(contexts).min() > 0.15 * len(contexts)


def test_renders_keep_the_strokes_and_draw_the_context_elsewhere():
    digits, _, _ = digits_arrays("heldout")
    for c in range(len(CONTEXT_NAMES)):
        out = render(digits[:4], np.full(4, c))
        dark = digits[:4].mean(-1) == 0
        assert np.abs(out[dark].astype(float) - np.broadcast_to(background(c), out.shape)[dark]).max() <= 0.5
        alpha = digits[:4].mean(-1, keepdims=True) / 255  # strokes: the stroke colour by the digit's brightness
        assert np.abs(out - (alpha * np.asarray(STROKE) + (1 - alpha) * background(c))).max() <= 0.5
        assert alpha.max() > 0.9
    with pytest.raises(ValueError, match="contexts"):
        render(digits[:2], np.zeros(3))


def test_the_context_oracle_reads_every_render_and_survives_noise_and_resizing():
    images, _, contexts, _ = context_digits_arrays("heldout")
    assert (read_context(images) == contexts).mean() == 1.0
    noisy = np.clip(images + np.random.default_rng(0).normal(0, 20, images.shape), 0, 255).astype(np.uint8)
    assert (read_context(noisy) == contexts).mean() > 0.98
    from PIL import Image

    big = np.stack([np.asarray(Image.fromarray(i).resize((64, 64))) for i in images[:50]])
    assert (read_context(big) == contexts[:50]).mean() > 0.98


def test_the_digit_oracle_reads_the_digits_through_their_contexts():
    pytest.importorskip("sklearn")
    from genie_transforms.digits import digits_oracle
    from genie_transforms.digits.context import read_digit, strip_context

    images, labels, _, _ = context_digits_arrays("heldout")
    plain, _, _ = digits_arrays("heldout")
    assert np.abs(strip_context(images).astype(int) - plain.astype(int)).max() <= 2  # the renders' strokes, exactly
    oracle = digits_oracle()
    assert (read_digit(images, oracle) == labels).mean() >= 0.98
