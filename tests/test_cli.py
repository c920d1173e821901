import json

import numpy as np
from PIL import Image

from genie_transforms.cli import main


def test_demo_writes_a_grid_and_provenance(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--pairs", "2", "--steps", "10"]) == 0
    grid = Image.open(tmp_path / "grid.png")
    assert grid.width > 500 and np.asarray(grid.convert("L")).std() > 20  # not blank
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 7 and {r["noise_ratio"] for r in records} == {0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
    out = capsys.readouterr().out
    assert "reaches the target" in out and "grid.png" in out


def test_env_prints_versions(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "- torch:" in out and "- diffusers:" in out


def test_bad_arguments_give_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--pairs", "0"]) == 2
    assert "--pairs must be >= 1" in capsys.readouterr().err
