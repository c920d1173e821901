"""`genie bench`: every figure written to its JSON, on the tiny pipeline and on the bundled digits model."""

import importlib.util
import json

import pytest

from genie_transforms.cli import main


def test_bench_command_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--model",
                "tiny",
                "--images",
                "4",
                "--steps",
                "4",
                "--batch-sizes",
                "1",
                "4",
                "--ada-pairs",
                "0",
                "--quality-images",
                "0",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    everything = json.loads(out.read_text())
    figures = everything["throughput"]
    assert set(figures["engine_images_per_s"]) == {"1", "4"} and figures["naive_images_per_s"] > 0
    peer = everything["peer"]  # diffusers called once with the whole batch, in the same run
    assert peer["images"] == 4 and peer["peer_images_per_s"] > 0 and peer["engine_vs_peer"] > 0
    # at the same noise the engine and diffusers differ only by the VAE posterior (mode vs sample) and resizing
    assert peer["pixel_difference_same_noise"]["mean"] < 8
    assert figures["denoiser_floor_s"] > 0 and figures["peak_memory_mb"] > 0
    # the floor replays the run's own UNet passes, so the engine cannot beat it by much (timing noise aside)
    assert figures["overhead_over_denoiser_floor"] > 0.5
    assert "x naive loop" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["sdxl", "sd3", "flux-dev"])
def test_bench_measures_every_family_against_its_own_diffusers_pipeline(tmp_path, capsys, family):
    """`genie bench --model FOLDER` on a saved pipeline of each family (what `--model sdxl-random` and the others
    run at real size): the naive loop, the batch sizes, the denoiser floor and the peer are that family's."""
    from genie_transforms.testing import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / family, family=family)
    out = tmp_path / "bench.json"
    args = ["bench", "--model", str(model), "--images", "2", "--steps", "4", "--batch-sizes", "1", "2", "--resolution"]
    args += ["32", "--noise-ratio", "1"]  # r = 1: no VAE posterior sample in the peer, so the images must agree
    assert main([*args, "--output", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["family"] == family.split("-")[0] and figures["resolution"] == 32
    throughput, peer = figures["throughput"], figures["peer"]
    assert throughput["naive_images_per_s"] > 0 and set(throughput["engine_images_per_s"]) == {"1", "2"}
    assert throughput["denoiser_floor_s"] > 0 and peer["family"] == figures["family"] and peer["engine_vs_peer"] > 0
    assert peer["pixel_difference_same_noise"]["max"] <= 4  # the same images as the family's own pipeline
    assert f"diffusers' {figures['family']} img2img" in capsys.readouterr().out


@pytest.mark.slow
# a collapsed schedule is flagged in its row, not warned about
@pytest.mark.filterwarnings("error::genie_transforms.errors.GenieWarning")
def test_bench_on_the_digits_model_reports_ada_and_the_fast_preset(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "--images",
                "2",
                "--steps",
                "10",
                "--batch-sizes",
                "2",
                "--ada-pairs",
                "2",
                "--quality-images",
                "4",
                "--cheap-steps",
                "1",
                "3",
                "--training-images",
                "64",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    ada = figures["ada"]
    assert ada["pairs"] == 2 and 0 <= ada["agreement"] <= 1
    assert ada["steps_per_image"]["exact"] == 5 + 6 + 7 + 8 + 9 and ada["steps_per_image"]["genie_0.8"] == 8
    assert set(ada["seconds_per_image"]) == {"exact", "cheap", "genie_0.8"}
    fast = figures["fast_preset"]
    assert fast["settings"]["num_inference_steps"] == 20 and 0 <= fast["oracle_reads_target_fast"] <= 1
    curve = figures["cheap_ada_curve"]["curve"]
    assert [row["cheap_steps"] for row in curve] == [1, 3]
    assert all(0 <= row["agreement"] <= row["within_one_grid_step"] <= 1 for row in curve)
    # passes per kept image: k per grid point (5 points) plus the full run at r* (5 to 9 of 10 steps), over GeNIe's 8
    for row, k in zip(curve, (1, 3)):
        assert (5 * k + 5) / 8 <= row["passes_vs_genie_0.8"] <= (5 * k + 9) / 8
    assert figures["cheap_ada_curve"]["exact_passes_vs_genie_0.8"] == 35 / 8
    training = figures["training"]
    hosts = [h for h in ("albumentations", "torchvision") if importlib.util.find_spec(h) is not None]
    assert set(training) == {f"{h}, {w} workers" for h in hosts for w in (0, 2)} and hosts
    assert all(row["ratio"] > 0 and row["samples_per_s_without"] > 0 for row in training.values())
