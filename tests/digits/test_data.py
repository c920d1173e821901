"""The digits data (`genie_transforms.digits.data`): the shipped scans, the fixed split, the 8x8 view, the oracle."""

import numpy as np
import pytest

from genie_transforms.digits import (
    DIGIT_NAMES,
    digits_arrays,
    digits_oracle,
    digits_scans,
    downsample,
    load_digits_dataset,
    upsample,
)


def test_the_split_is_fixed_disjoint_and_complete():
    heldout = load_digits_dataset("heldout")
    assert heldout.features["label"].names == list(DIGIT_NAMES) and len(heldout) == 539
    assert len(load_digits_dataset("train")) + len(heldout) == 1797
    assert not set(heldout["digit_index"]) & set(load_digits_dataset("train")["digit_index"])
    images, labels, index = digits_arrays("heldout")
    assert images.shape == (539, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(labels, digits_scans()[1][index])
    with pytest.raises(ValueError, match="Unknown split"):
        digits_arrays("test")


def test_the_oracle_reads_held_out_digits_through_their_8x8_view():
    images, labels, index = digits_arrays("heldout")
    scans = digits_scans()[0][index[:20]].reshape(20, 64).astype(float)
    back = downsample(upsample(digits_scans()[0][index[:20]]))  # up to 32 px and back: a smoothed copy
    assert back.shape == (20, 64) and all(np.corrcoef(a, b)[0, 1] > 0.9 for a, b in zip(back, scans))
    assert (digits_oracle().predict(downsample(images)) == labels).mean() > 0.97


def test_the_shipped_digits_are_scikit_learns():
    """The data file the package ships is exactly `sklearn.datasets.load_digits()` (the core needs no sklearn)."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from genie_transforms.digits import digits_scans

    scans, labels = digits_scans()
    data = sklearn_datasets.load_digits()
    assert scans.dtype == np.uint8 and np.array_equal(scans, data.images) and np.array_equal(labels, data.target)
