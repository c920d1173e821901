"""What the engine returns (`genie_transforms.outputs`): records, outputs and sweeps."""

import pytest

from genie_transforms.outputs import GenieOutput, GenieRecord, GenieSweep


def _record(r: float, kept=None) -> GenieRecord:
    return GenieRecord(
        source_id="s", target=1, target_name="dog", prompt="a photo of a dog.", prompt_template="a photo of a {}.",
        noise_ratio=r, steps_run=int(10 * r), start_timestep=int(1000 * r) - 1, text_to_image=r >= 1, seed=0,
        noise_seed=7, seed_scheme="sha256-v1", noise_scheme="pcg64-v1", num_inference_steps=10, guidance_scale=7.5,
        scheduler="DPMSolverMultistepScheduler", timestep_spacing="linspace", resolution=32, dtype="float32",
        model_id="m", model_revision="sha256:0", model_variant=None, adapters=(), library_version="0",
        filter_kept=kept,
    )  # fmt: skip


def test_a_record_carries_its_family_and_start_and_serialises():
    record = _record(0.5)
    assert record.model_family == "sd" and record.start_snr is None  # defaults for records made by hand
    as_dict = record.to_dict()
    assert as_dict["noise_ratio"] == 0.5 and as_dict["model_family"] == "sd" and GenieRecord(**as_dict) == record


def test_outputs_keep_what_the_filter_kept_and_sweeps_pick_one_image_per_pair():
    out = GenieOutput(images=["a", "b", "c"], records=[_record(0.5, True), _record(0.7, False), _record(0.9)])
    assert out.labels == [1, 1, 1] and out.kept().images == ["a", "c"] and len(out) == 3
    sweep = GenieSweep(ratios=(0.5, 0.9), images=[["a", "b"], ["c", "d"]], records=[[_record(0.5)] * 2] * 2)
    assert sweep.flat() == ["a", "b", "c", "d"] and sweep.pick([1, 0]).images == ["b", "c"]
    with pytest.raises(ValueError, match="1 choices for 2 pairs"):
        sweep.pick([0])
