"""The committed benchmark scripts under benchmarks/ that CI can run (the others write the README's figures)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def _context_benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import context
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return context


def test_the_context_benchmarks_falsification_rule_is_the_pre_registered_one():
    rule = _context_benchmark().verdict

    def ci(mean, low, high):
        return {"mean": mean, "low": low, "high": high}

    assert rule(ci(0.05, 0.02, 0.08), ci(0.0, -0.01, 0.01), ci(0.05, 0.01, 0.09))[0] == "supported"
    verdict, reasons = rule(ci(0.005, -0.005, 0.015), ci(0.0, -0.01, 0.01), ci(0.005, 0.001, 0.01))
    assert verdict == "not supported" and reasons == ["the upper bound of GeNIe - Txt2Img (+1.50) is below +2 points"]
    assert (
        "the interaction's interval includes 0"
        in rule(ci(0.05, 0.02, 0.08), ci(0.0, -0.01, 0.01), ci(0.05, -0.01, 0.1))[1]
    )
    assert "as large in the control" in rule(ci(0.05, 0.02, 0.08), ci(0.06, 0.02, 0.1), ci(0.01, 0.001, 0.02))[1][0]
    assert rule(ci(0.03, -0.01, 0.07), ci(0.0, -0.01, 0.01), ci(0.03, 0.01, 0.05))[0] == "inconclusive"


def test_the_context_benchmarks_bootstrap_resamples_seeds_as_clusters():
    bootstrap = _context_benchmark().bootstrap
    same = bootstrap(np.full((3, 50), 0.4), 200)
    assert same == {"mean": pytest.approx(0.4), "low": pytest.approx(0.4), "high": pytest.approx(0.4)}
    rng = np.random.default_rng(0)
    episodes = rng.normal(0, 0.1, 50)
    agree = bootstrap(np.stack([episodes, episodes, episodes]), 2000)
    disagree = bootstrap(np.stack([episodes - 0.2, episodes, episodes + 0.2]), 2000)  # seeds far apart
    assert disagree["high"] - disagree["low"] > 3 * (agree["high"] - agree["low"])


def test_the_context_episodes_map_classes_to_contexts_and_pair_the_rhos():
    context = _context_benchmark()
    world = context.World("context", *context.digits_split_novel(), contexts=5)
    support_pool, query_pool = context.pools(world, 10)
    episodes = context.sample_episodes(world, support_pool, query_pool, 5, 0, 40)
    again = context.sample_episodes(world, support_pool, query_pool, 5, 0, 40)
    assert all((a.support == b.support).all() and (a.mapping == b.mapping).all() for a, b in zip(episodes, again))
    carried = []
    for e in episodes:
        assert sorted(e.mapping) == [0, 1, 2, 3, 4]  # one-to-one
        assert (e.support_contexts(1.0) == e.mapping[:, None]).all()
        assert (e.query_contexts["conflicting"] != e.mapping[:, None]).all()  # another class's context, always
        assert (e.query_contexts["aligned"] == e.mapping[:, None]).all()
        for j, c in enumerate(context.NOVEL):
            assert set(e.support[j]) <= set(support_pool[c]) and not set(e.query[j]) & set(support_pool[c])
        carried.append((e.support_contexts(0.2) == e.mapping[:, None]).mean())
    assert 0.1 < np.mean(carried) < 0.3  # rho = 0.2: about a fifth carry their class's context


def test_background_randomisation_keeps_the_strokes_and_leaves_the_five_contexts():
    from PIL import Image

    from genie_transforms.digits import context_digits_arrays
    from genie_transforms.digits.context import read_context, strip_context

    context = _context_benchmark()
    images, _, contexts, _ = context_digits_arrays("heldout")
    rng = np.random.default_rng(0)
    out = np.stack([np.asarray(context.background_randomisation(Image.fromarray(x), rng)) for x in images[:40]])
    strokes = np.abs(strip_context(out).astype(int) - strip_context(images[:40]).astype(int)).mean()
    assert strokes < 20  # the same digits
    assert (read_context(out) == contexts[:40]).mean() < 0.5  # their contexts are gone
    assert len({tuple(x[0, 0]) for x in out}) > 20  # random hues


@pytest.mark.slow
def test_the_context_benchmark_runs_at_a_smoke_size_and_reports_every_part(tmp_path):
    context = _context_benchmark()
    args = [
        "--smoke",
        "--shots",
        "1",
        "--pool",
        "1",
        "--episodes",
        "2",
        "--gen-seeds",
        "0",
        "--mappings",
        "0",
        "--jobs",
        "1",
    ]
    context.main([*args, "--steps", "5", "--pairs", "8", "--bootstrap", "100", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "context.json").read_text())
    assert report["result"] == "complete" and report["smoke"] and report["model_id"] == "genie-tiny-context"
    assert set(report["preconditions"]) == {
        "P1_target_at_0.8",
        "P2_context_kept_at_0.8",
        "P3_txt2img_min_context_share",
        "P4_none_gap_rho1_1shot",
    }
    assert [c["r"] for c in report["precondition_curves"]["curves"]] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    shot = report["context"]["1-shot"]
    assert set(shot["conditions"]) == {"rho=1.0", "rho=0.8", "rho=0.2"}
    every = {*context.CLASSIC, *context.GENERATED, *context.ABLATION}
    assert set(shot["conditions"]["rho=1.0"]["methods"]) == every
    assert set(shot["conditions"]["rho=0.2"]["methods"]) == every - set(context.ABLATION)
    for row in shot["conditions"]["rho=1.0"]["methods"].values():
        assert {"aligned", "conflicting", "random", "gap"} == set(row)
        assert 0 <= row["conflicting"]["low"] <= row["conflicting"]["mean"] <= row["conflicting"]["high"] <= 1
    assert shot["verdict"] in ("supported", "not supported", "inconclusive")
    assert sum(shot["r_star"].values()) == 2 * 5 * 4  # every GeNIe-Ada choice at rho 1.0: episodes x classes x sources
    assert set(report["ablation"]) == {"context world (conflicting)", "digits world (all queries)"}
    assert set(report["ablation"]["digits world (all queries)"]["1-shot"]) == {
        "genie_0.5",
        "genie_0.6",
        "genie_0.7",
        "genie_0.8",
        "genie_0.9",
        "txt2img",
    }
    text = (tmp_path / "context.md").read_text()
    assert "verdict" in text and "| txt2img |" in text and "digits world" in text
