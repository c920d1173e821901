"""The few-shot protocol (`genie_transforms.evaluation.fewshot`): the same episodes and budget for every method, a
bank that makes each image once, paired statistics."""

import numpy as np
import pytest

from genie_transforms.evaluation import FewShotConfig, evaluate_few_shot, sample_episodes
from genie_transforms.evaluation.fewshot import GeneratedBank, episode_training_set

from ..helpers import colour_images


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


def test_each_progress_bar_names_its_method_and_its_place_in_the_sequence(setup, capfd):
    gen, embedder, prompts = setup
    images, labels = colour_images()
    methods = ("none", "img2img_0.3", "txt2img", "genie")
    config = FewShotConfig(n_way=2, k_shot=1, n_query=2, n_episodes=1, seed=0, methods=methods)
    evaluate_few_shot(images, labels, embedder, config, generator=gen, prompts=prompts, progress=True)
    err = capfd.readouterr().err
    for bar in ("img2img_0.3 (1/3)", "txt2img (2/3)", "genie (3/3)", "few-shot episodes"):
        assert bar in err, bar
    assert "GeNIe:" not in err  # no anonymous bar
