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
    with pytest.warns(GenieWarning, match="cheap_steps=4"):
        GenieAda(tiny_generator, embedder, mode="cheap", cheap_steps=4)  # neighbouring grid points would collide
    with warnings.catch_warnings():
        warnings.simplefilter("error", GenieWarning)  # one filter turns them into errors, and only them
        with pytest.raises(GenieWarning):
            GenieAda(tiny_generator, embedder, mode="cheap", cheap_steps=4)
