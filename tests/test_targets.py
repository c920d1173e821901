import numpy as np
import pytest

from genie_transforms.targets import AllOthers, ConfusionTopK, RandomK, ToTail, get_strategy, strategy_from_dict

CLASSES = [0, 1, 2, 3]


def test_all_others_is_the_paper_pairing():
    assert AllOthers()(2, CLASSES) == [0, 1, 3]


def test_random_k_is_distinct_deterministic_and_varies_by_source():
    s = RandomK(2)
    picks = s(1, CLASSES, source_id="a", seed=0)
    assert len(set(picks)) == 2 and 1 not in picks
    assert picks == s(1, CLASSES, source_id="a", seed=0)
    draws = {tuple(s(1, CLASSES, source_id=str(i), seed=0)) for i in range(30)}
    assert len(draws) > 3  # differs between sources
    with pytest.raises(ValueError, match="only 3 other classes"):
        RandomK(4)(0, CLASSES)


def test_confusion_top_k_against_a_given_matrix():
    # true x predicted counts: 0 is mostly confused with 2 (3 + 1 both ways), then 1 (2 + 0)
    confusion = np.array(
        [
            [50, 2, 3, 0],
            [0, 40, 5, 1],
            [1, 5, 45, 0],
            [0, 1, 0, 60],
        ]
    )
    s = ConfusionTopK(confusion, k=2)
    assert s(0, CLASSES) == [2, 1]
    assert s(1, CLASSES) == [2, 0]  # 10 with class 2, then a tie 2 vs 2 between 0 and 3: lower index wins
    assert s(3, CLASSES) == [1, 0]
    with pytest.raises(ValueError, match="square"):
        ConfusionTopK(np.ones((2, 3)))


def test_to_tail_favours_rare_classes_and_confused_ones():
    counts = [500, 500, 500, 5]
    s = ToTail(counts, k=1)
    w = s.weights(0, [1, 2, 3])
    assert w[2] > 0.95  # class 3 has 100x fewer images
    picks = [s(0, CLASSES, source_id=str(i), seed=1)[0] for i in range(200)]
    assert picks.count(3) > 180
    confusion = np.eye(4) * 10
    confusion[1, 3] = confusion[3, 1] = 5  # class 3 is confused with class 1 only
    s2 = ToTail([100, 100, 100, 100], confusion=confusion, smoothing=0.0)
    assert s2.weights(1, [0, 2, 3]).tolist() == pytest.approx([0, 0, 1])


@pytest.mark.parametrize(
    "strategy", [AllOthers(), RandomK(2), ConfusionTopK(np.eye(4), k=1), ToTail([3, 4, 5, 6], k=2)]
)
def test_strategies_round_trip_through_dict(strategy):
    rebuilt = strategy_from_dict(strategy.to_dict())
    assert rebuilt.to_dict() == strategy.to_dict()
    assert rebuilt(1, CLASSES, source_id="x", seed=3) == strategy(1, CLASSES, source_id="x", seed=3)


def test_get_strategy_specs_and_errors():
    assert isinstance(get_strategy("all_others"), AllOthers)
    assert get_strategy("random_k:3").k == 3
    with pytest.raises(ValueError, match="Unknown target strategy 'nearest'"):
        get_strategy("nearest")
    with pytest.raises(ValueError, match="k"):
        get_strategy("random_k:0")
