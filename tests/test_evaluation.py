import numpy as np
import pytest
import torch
from PIL import Image

from genie_transforms import GenieGenerator, PromptMap
from genie_transforms.embedders import Embedder
from genie_transforms.evaluation import (
    FewShotConfig,
    evaluate_few_shot,
    evaluate_long_tail,
    linear_probe_accuracy,
    long_tail_counts,
    long_tail_indices,
    mean_confidence_interval,
    sample_episodes,
)
from genie_transforms.evaluation.fewshot import GeneratedBank, episode_training_set

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


def test_long_tail_profile():
    assert long_tail_counts(100, 5, 10.0) == [100, 56, 31, 17, 10]
    labels = [c for c in range(5) for _ in range(100)]
    keep = long_tail_indices(labels, 10.0, seed=0)
    assert np.bincount(np.asarray(labels)[keep]).tolist() == [100, 56, 31, 17, 10]


def colour_images(n_per_class=10, classes=6, seed=0):
    """Images whose class is their dominant colour channel pattern (a task a pooled embedder can solve)."""
    rng = np.random.default_rng(seed)
    palette = rng.uniform(40, 215, size=(classes, 3))
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            arr = np.clip(palette[c] + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            images.append(Image.fromarray(arr))
            labels.append(c)
    return images, labels


def pooled(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=(2, 3)), torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)], dim=1)


@pytest.fixture
def setup(tiny_model_path):
    gen = GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=10, progress=False, batch_size=64)
    return gen, Embedder(pooled, name="pooled"), PromptMap([f"class {c}" for c in range(6)])


def test_every_method_sees_the_same_episodes_and_budget(setup):
    gen, embedder, prompts = setup
    images, labels = colour_images()
    config = FewShotConfig(n_way=3, k_shot=2, n_query=4, n_episodes=2, seed=0)
    result = evaluate_few_shot(images, labels, embedder, config, generator=gen, prompts=prompts, progress=False)
    methods = result["methods"]
    assert set(methods) == set(config.methods) and result["episodes"] == 2
    for name, row in methods.items():
        assert len(row["accuracies"]) == 2 and np.isfinite(row["mean"]) and 0 <= row["mean"] <= 1
        assert row["extra_per_class"] == (0 if name == "none" else 4)  # k_shot * (n_way - 1)
    assert 0 <= result["filter_kept"] <= 1 and "genie_filtered - genie" in result["paired"]


def test_each_method_adds_its_budget_and_the_bank_makes_each_image_once(setup):
    gen, embedder, prompts = setup
    images, labels = colour_images()
    config = FewShotConfig(n_way=3, k_shot=2, n_query=4, n_episodes=1, seed=0, ada_grid=(0.5, 0.8))
    episode = sample_episodes(labels, 3, 2, 4, 1, seed=0)[0]
    bank = GeneratedBank(images, embedder, prompts, seed=0)
    support = [r for rows in episode.support for r in rows]
    feats = embedder([images[r] for r in support])
    prototypes = {c: feats[2 * j : 2 * j + 2].mean(axis=0) for j, c in enumerate(episode.classes)}
    for method in config.methods:
        extra, extra_y, _ = episode_training_set(method, episode, images, config, 0, bank, gen, prototypes, labels)
        assert len(extra) == len(extra_y) == (0 if method == "none" else 3 * 4)
        assert sorted(set(extra_y)) == ([] if method == "none" else list(episode.classes))
    # genie (r = 0.8) and Ada's sweep point at 0.8 are the same images: 12 GeNIe pairs at 2 grid points, 12 Txt2Img,
    # 2 Img2Img ratios x 6 sources x 2 copies (a 2-shot class repeats its two sources to fill 4)
    steps = gen.num_inference_steps
    assert len(bank.store) == 12 * 2 + 12 + 2 * 12
    img2img = [bank.store[(steps, r, labels[r], 0.3, k)][0] for r in support[:1] for k in (0, 1)]
    assert not np.array_equal(np.asarray(img2img[0]), np.asarray(img2img[1]))  # a repeated pair has its own noise
    size = len(bank.store)
    episode_training_set("genie", episode, images, config, 1, bank, gen, prototypes, labels)
    assert len(bank.store) == size  # another episode seed reuses the bank


def test_generative_methods_need_a_generator(setup):
    _, embedder, _ = setup
    images, labels = colour_images()
    with pytest.raises(ValueError, match="need `generator`"):
        evaluate_few_shot(images, labels, embedder, FewShotConfig(n_way=2, n_episodes=1, n_query=2))
    with pytest.raises(ValueError, match="Unknown methods"):
        FewShotConfig(methods=("dalle",))


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


def test_paired_differences_use_the_paired_t_interval():
    from genie_transforms.evaluation.fewshot import paired_differences

    acc = {
        "genie": [0.6, 0.7, 0.8],
        "txt2img": [0.5, 0.5, 0.5],
        "none": [0.6, 0.7, 0.8],
        "genie_ada": [0.7, 0.81, 0.89],
    }
    out = paired_differences(acc)
    d = out["genie - txt2img"]  # differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, t(0.975, 2) = 4.3027
    assert d["mean"] == pytest.approx(0.2) and d["ci95"] == pytest.approx(4.302653 * 0.1 / 3**0.5, rel=1e-5)
    assert d["low"] == pytest.approx(0.2 - d["ci95"]) and d["low"] < 0 and not d["significant"]  # 3 episodes: too few
    ada = out["genie_ada - genie"]  # differences 0.1, 0.11, 0.09: consistent, so significant
    assert ada["mean"] == pytest.approx(0.1) and ada["significant"]
    assert out["genie - none"]["mean"] == 0 and not out["genie - none"]["significant"]
    assert "genie - img2img_0.7" not in out  # only pairs that both ran
