"""Fixtures of the command tests."""

import pytest


@pytest.fixture
def ada_args(classifier_weights):
    """`genie ada` arguments on a small job with a torchvision embedder (extra options appended)."""

    def args(source_dir, model, out, *extra):
        return [
            "ada",
            "--dataset",
            str(source_dir),
            "--model",
            str(model),
            "--steps",
            "10",
            "--strategy",
            "random_k:2",
            "--chunk-size",
            "2",
            "--output",
            str(out),
            "--no-progress",
            "--embedder",
            "torchvision:resnet18",
            "--embedder-weights",
            str(classifier_weights),
            *extra,
        ]

    return args
