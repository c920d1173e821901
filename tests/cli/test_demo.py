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
