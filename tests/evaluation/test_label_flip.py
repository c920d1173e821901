"""Label consistency over r and sample diversity (`genie_transforms.evaluation.label_flip`)."""

import numpy as np
import pytest

from genie_transforms.evaluation import label_flip_curve, sample_diversity


def brightness_oracle(images):
    """A fixed, real classifier of 4 classes: the image's mean brightness, in four bands."""
    return np.array([min(int(np.asarray(im, float).mean() // 64), 3) for im in images])


def test_the_curve_reads_each_pairs_images_over_r_as_generated_one_by_one(tiny_generator, prompts, rgb_images):
    labels, targets, ratios = [0, 1, 2, 3], [1, 2, 3, 0], (0.5, 1.0)
    curve = label_flip_curve(
        tiny_generator, rgb_images, labels, targets, ratios, oracle=brightness_oracle, prompts=prompts, seed=3
    )
    assert set(curve) == set(ratios)
    for r in ratios:
        alone = tiny_generator.generate(
            rgb_images, targets, r, seed=3, prompts=prompts, source_ids=[str(i) for i in range(4)]
        )
        read = brightness_oracle(alone.images)
        expected = {
            "target": float(np.mean(read == targets)),
            "source": float(np.mean(read == labels)),
            "neither": float(np.mean((read != targets) & (read != labels))),
        }
        assert curve[r] == pytest.approx(expected) and sum(curve[r].values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same length"):
        label_flip_curve(
            tiny_generator, rgb_images, labels[:2], targets, ratios, oracle=brightness_oracle, prompts=prompts
        )


def test_sample_diversity_is_one_for_the_data_itself_and_zero_for_a_collapse():
    real = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    assert sample_diversity(real, real) == pytest.approx(1.0)
    assert sample_diversity(np.repeat(real[:1], 4, axis=0), real) == pytest.approx(0.0)
    assert sample_diversity(real[:3], real) == pytest.approx(
        np.mean([np.linalg.norm(real[i].astype(float) - real[j]) for i, j in ((0, 1), (0, 2), (1, 2))])
        / np.mean([np.linalg.norm(real[i].astype(float) - real[j]) for i in range(6) for j in range(i + 1, 6)])
    )
    with pytest.raises(ValueError, match="at least two"):
        sample_diversity(real[:1], real)
