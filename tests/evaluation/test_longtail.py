"""The long-tail protocol (`genie_transforms.evaluation.longtail`)."""

import numpy as np
import pytest

from genie_transforms.evaluation import evaluate_long_tail, long_tail_counts, long_tail_indices

from ..helpers import colour_images


def test_long_tail_profile():
    assert long_tail_counts(100, 5, 10.0) == [100, 56, 31, 17, 10]
    labels = [c for c in range(5) for _ in range(100)]
    keep = long_tail_indices(labels, 10.0, seed=0)
    assert np.bincount(np.asarray(labels)[keep]).tolist() == [100, 56, 31, 17, 10]


@pytest.mark.filterwarnings("error::UserWarning")  # the few-shot folds are expected: no warning reaches the user
def test_long_tail_evaluation_reports_every_group(setup):
    gen, embedder, prompts = setup
    images, labels = colour_images(n_per_class=12)
    test_images, test_labels = colour_images(n_per_class=4, seed=1)
    result = evaluate_long_tail(
        images,
        labels,
        test_images,
        test_labels,
        embedder,
        generator=gen,
        prompts=prompts,
        imbalance=6.0,
        progress=False,
    )
    assert set(result["methods"]) == {"none", "txt2img", "genie", "genie_filtered"}
    assert result["methods"]["none"]["extra_images"] == 0
    extra = {m: result["methods"][m]["extra_images"] for m in ("genie", "txt2img", "genie_filtered")}
    assert len(set(extra.values())) == 1 and extra["genie"] > 0  # the same budget for every method
    assert 0 <= result["methods"]["genie_filtered"]["filter_kept"] <= 1
    for row in result["methods"].values():
        assert all(0 <= row[k] <= 1 for k in ("overall", "many", "medium", "few"))
