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
