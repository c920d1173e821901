"""Measuring what GeNIe does: the few-shot and long-tail protocols of the paper, label consistency over r and
sample diversity."""

from .episodes import Episode, linear_probe_accuracy, mean_confidence_interval, sample_episodes
from .fewshot import METHODS, FewShotConfig, evaluate_few_shot
from .label_flip import label_flip_curve, sample_diversity
from .longtail import evaluate_long_tail, long_tail_counts, long_tail_indices

__all__ = [
    "METHODS",
    "Episode",
    "FewShotConfig",
    "evaluate_few_shot",
    "evaluate_long_tail",
    "label_flip_curve",
    "linear_probe_accuracy",
    "long_tail_counts",
    "long_tail_indices",
    "mean_confidence_interval",
    "sample_diversity",
    "sample_episodes",
]
