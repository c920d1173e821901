"""Episodes, the one linear probe and the interval (`genie_transforms.evaluation.episodes`)."""

import numpy as np
import pytest

from genie_transforms.evaluation import linear_probe_accuracy, mean_confidence_interval, sample_episodes

LABELS = [c for c in range(6) for _ in range(10)]


def test_episodes_have_no_overlap_and_are_reproducible():
    episodes = sample_episodes(LABELS, n_way=3, k_shot=2, n_query=5, n_episodes=20, seed=1)
    assert episodes == sample_episodes(LABELS, 3, 2, 5, 20, seed=1)
    assert episodes != sample_episodes(LABELS, 3, 2, 5, 20, seed=2)
    for ep in episodes:
        support = [r for rows in ep.support for r in rows]
        query = [r for rows in ep.query for r in rows]
        assert not set(support) & set(query) and len(set(support + query)) == 3 * 7
        for c, s, q in zip(ep.classes, ep.support, ep.query):
            assert all(LABELS[r] == c for r in s + q) and len(s) == 2 and len(q) == 5
    # an episode does not depend on how many are drawn
    assert sample_episodes(LABELS, 3, 2, 5, 5, seed=1) == episodes[:5]
    with pytest.raises(ValueError, match="fewer than k_shot"):
        sample_episodes(LABELS, 3, 6, 5, 1)
    with pytest.raises(ValueError, match="need 7 classes"):
        sample_episodes(LABELS, 7, 1, 1, 1)


def test_linear_probe_matches_scikit_learn_used_directly():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 8)), rng.integers(0, 3, 60)
    tx, ty = rng.normal(size=(30, 8)), rng.integers(0, 3, 30)

    def norm(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    direct = LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000).fit(norm(x), y).predict(norm(tx))
    assert linear_probe_accuracy(x, y, tx, ty) == pytest.approx((direct == ty).mean())


def test_confidence_interval_formula():
    acc = [0.5, 0.7, 0.6, 0.8]
    mean, ci = mean_confidence_interval(acc)
    assert mean == pytest.approx(0.65) and ci == pytest.approx(1.96 * np.std(acc) / 2)
