"""The package's warning category (`genie_transforms.errors`): what users filter on."""

import warnings

import pytest

from genie_transforms import GenieWarning
from genie_transforms.ada import GenieAda
from genie_transforms.embedders import Embedder

from .helpers import pooled


def test_our_warnings_are_user_warnings_of_their_own_category(tiny_generator):
    assert issubclass(GenieWarning, UserWarning)
    embedder = Embedder(pooled, name="pooled")
    coarse = tiny_generator.with_settings(num_inference_steps=4)
    with pytest.warns(GenieWarning, match="With 4 steps"):
        GenieAda(coarse, embedder)  # neighbouring grid points would start at the same step
    with warnings.catch_warnings():
        warnings.simplefilter("error", GenieWarning)  # one filter turns them into errors, and only them
        with pytest.raises(GenieWarning):
            GenieAda(coarse, embedder)
