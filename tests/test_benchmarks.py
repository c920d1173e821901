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


@pytest.mark.slow
def test_the_bank_at_scale_benchmark_reads_its_bank_back_from_disk_and_reports_every_case(tmp_path):
    """At toy sizes: a bank saved and loaded back, both sizes, both hosts, and lossless decodes of every encoding."""
    pytest.importorskip("torchvision", reason="the benchmark measures both hosts")
    pytest.importorskip("albumentations", reason="the benchmark measures both hosts")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bank_at_scale
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path / "bank.json"
    args = ["--bank-images", "48", "--epoch-images", "16", "--negatives", "40", "--repeats", "1", "--workers", "0"]
    figures = bank_at_scale.main([*args, "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(figures))
    assert set(figures["runs"]) == {
        f"{s} px, {h}, 0 workers" for s in (256, 224) for h in ("albumentations", "torchvision")
    }
    assert all(row["samples_per_s_with"] > 0 and row["ratio"] > 0 for row in figures["runs"].values())
    assert len(figures["decode"]) == 9 and all(row["kb"] > 0 for row in figures["decode"])
    bank = bank_at_scale.build_bank(_negatives(), 5, 32, tmp_path / "b")
    assert len(bank) == 5 and bank[0]["image"].size == (32, 32) and bank[4]["label"] == bank[0]["label"]
    assert bank[4]["image"].tobytes() != bank[0]["image"].tobytes()  # every row an image of its own (its grain)
    assert bank.cache_files[0]["filename"].startswith(str(tmp_path / "b"))  # read back, memory-mapped, from disk


def _negatives():
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    features = Features(
        {"image": Image(), "label": ClassLabel(num_classes=3), "source_label": ClassLabel(num_classes=3)}
    )
    rows = {
        "image": [PILImage.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(4)],
        "label": [1, 2, 0, 1],
        "source_label": [0, 0, 1, 2],
    }
    return Dataset.from_dict(rows, features=features)
