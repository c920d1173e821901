"""The committed benchmark scripts under benchmarks/ that CI can run (the others write the README's figures)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_in_dry_mode(tmp_path):
    """The script a lent GPU runs, on the CPU at toy sizes: every step ends well and its figures are in one JSON."""
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] and set(report["steps"]) == {
        "gpu tests",
        "digits",
        "sd15-random",
        "sdxl-random",
        "sd3-random",
        "flux-random",
    }
    assert all(step["status"] == 0 for step in report["steps"].values())
    digits = report["steps"]["digits"]["figures"]
    assert {"throughput", "peer", "ada", "fast_preset"} <= set(digits)
    families = {name: report["steps"][name]["figures"]["family"] for name in ("sdxl-random", "sd3-random")}
    assert families == {"sdxl-random": "sdxl", "sd3-random": "sd3"}
    assert report["steps"]["flux-random"]["figures"]["peer"]["engine_vs_peer"] > 0
