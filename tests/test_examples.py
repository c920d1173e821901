"""The examples under examples/, run as a user runs them (with fewer epochs and rows, to stay quick)."""

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("host", ["albumentations", "torchvision"])
def test_a_training_loop_learns_with_genie_transform(host, monkeypatch, capsys):
    pytest.importorskip(host)
    script = ROOT / "examples" / f"train_{host}.py"
    argv = [script.name, "--epochs", "2", "--bank-rows", "30", "--steps", "4", "--workers", "0"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(script), run_name="__main__")
    accuracies = [float(a) for a in re.findall(r"held-out accuracy ([\d.]+)%", capsys.readouterr().out)]
    assert len(accuracies) == 2 and accuracies[-1] > 30  # well above chance (10%): the loop trains
