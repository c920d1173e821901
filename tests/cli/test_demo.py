import json

import numpy as np
import pytest
from PIL import Image

from genie_transforms.cli import main
from genie_transforms.evaluation import METHODS


@pytest.mark.slow
def test_demo_runs_end_to_end_on_a_reduced_setting(tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "--output",
                str(tmp_path),
                "--pairs",
                "2",
                "--steps",
                "10",
                "--episodes",
                "1",
                "--queries",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["methods"]) == set(METHODS) and results["model_id"] == "genie-tiny-digits"
    for row in results["methods"].values():
        assert np.isfinite(row["mean"]) and 0 <= row["mean"] <= 1 and len(row["accuracies"]) == 1
    for picture in ("grid.png", "pca.png"):
        image = Image.open(tmp_path / picture)
        assert image.width > 500 and np.asarray(image.convert("L")).std() > 20  # written, and not blank
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 7 and {r["noise_ratio"] for r in records} == {0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
    out = capsys.readouterr().out
    assert "| genie_ada |" in out and "results.json" in out


def test_one_episode_has_no_interval_and_the_table_says_so():
    from genie_transforms.cli.demo import summary_lines

    results = {
        "episodes": 1,
        "methods": {"none": {"mean": 0.4, "ci95": 0.0}, "genie": {"mean": 0.56, "ci95": 0.0}},
        "paired": {"genie - none": {"mean": 0.16, "low": float("-inf"), "high": float("inf"), "significant": False}},
    }
    text = "\n".join(summary_lines(results))
    assert "| genie | 56.0 (one episode: no interval) |" in text and "inf" not in text and "+-" not in text
    results["episodes"] = 3
    assert "| genie | 56.0 +- 0.0 |" in "\n".join(summary_lines(results))


@pytest.mark.slow
def test_demo_runs_on_the_context_world_with_its_own_model_and_backbone(tmp_path):
    args = ["demo", "--world", "context", "--output", str(tmp_path), "--pairs", "1", "--steps", "10"]
    args += ["--episodes", "2", "--queries", "4", "--methods", "none", "genie", "txt2img", "--no-progress"]
    assert main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["model_id"] == "genie-tiny-context" and results["embedder"] == "genie-tiny-context-backbone"
    assert set(results["paired"]) == {"genie - txt2img", "genie - none"}  # the paired differences, 2 episodes
    grid = np.asarray(Image.open(tmp_path / "grid.png").convert("RGB")).astype(float)
    assert (grid.max(axis=-1) - grid.min(axis=-1)).max() > 100  # the contexts' colours, not grey digits


def test_the_context_world_takes_no_dataset_and_no_other_model(tmp_path, capsys):
    assert main(["demo", "--world", "context", "--out", str(tmp_path), "--dataset", "org/data"]) == 2
    assert "--world context" in capsys.readouterr().err
    assert main(["demo", "--world", "context", "--out", str(tmp_path), "--model", "org/sd"]) == 2
    assert "genie-tiny-context" in capsys.readouterr().err
