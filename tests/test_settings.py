"""The engine's torch-free settings (`genie_transforms.settings`): step arithmetic, validation, presets."""

import subprocess
import sys

import numpy as np
import pytest

from genie_transforms.settings import (
    FLOW_SCHEDULERS,
    PRESET_CHOICES,
    PRESET_FAMILIES,
    PRESETS,
    SCHEDULER_CHOICES,
    SCHEDULERS,
    GenerationSettings,
    check_noise_ratio,
    denoising_steps,
)


def test_the_settings_module_imports_no_torch():
    probe = "import sys, genie_transforms.settings; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_noise_ratios_are_checked_without_torch_and_with_numpy_and_torch_scalars():
    import torch

    assert (
        check_noise_ratio(np.float32(0.5), 10) == 0.5 and check_noise_ratio(torch.tensor(0.8), 10) == 0.800000011920929
    )
    assert denoising_steps(np.float32(0.7), 50) == 35
    with pytest.raises(ValueError, match=r"should be in \(0.0, 1.0\] but is 1.3"):
        check_noise_ratio(1.3, 50)
    with pytest.raises(ValueError, match="runs int\\(4 \\* 0.2\\) = 0 denoising steps. Use noise_ratio >= 0.25"):
        check_noise_ratio(0.2, 4)
    with pytest.raises(TypeError, match="must be a float in"):
        check_noise_ratio("0.5", 10)
    with pytest.raises(ValueError, match="`batch_size` must be an int >= 1"):
        GenerationSettings(batch_size=0)


def test_every_preset_names_known_schedulers_and_the_families_it_fits():
    assert set(PRESET_CHOICES) == set(PRESETS) == set(PRESET_FAMILIES)
    assert set(SCHEDULER_CHOICES) == set(SCHEDULERS) and set(FLOW_SCHEDULERS) <= set(SCHEDULERS)
    for name, preset in PRESETS.items():
        assert preset["scheduler"] in SCHEDULERS, name
        assert GenerationSettings.make(name).to_dict().items() >= preset.items()
        if "flux" in PRESET_FAMILIES[name]:
            assert preset["scheduler"] in FLOW_SCHEDULERS


def test_the_settings_object_is_validated_once_and_never_changed_in_place():
    import dataclasses

    settings = GenerationSettings.make("fast", num_inference_steps=12)  # explicit values win over the preset's
    assert (settings.num_inference_steps, settings.guidance_scale, settings.scheduler) == (12, 7.5, "dpmsolver++")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 2  # type: ignore[misc]
    assert settings.replace(batch_size=2).batch_size == 2 and settings.batch_size == 8
    for bad, match in [
        ({"noise_rule": "snr"}, "noise_rule"),
        ({"scheduler": "dpm"}, "Unknown scheduler 'dpm'"),
        ({"timestep_spacing": "even"}, "timestep_spacing"),
        ({"resolution": 4}, "resolution"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"num_inference_steps": True}, "num_inference_steps"),
    ]:
        with pytest.raises(ValueError, match=match):
            settings.replace(**bad)
    with pytest.raises(TypeError, match="Unknown setting.*'steps'.*the settings are"):
        settings.replace(steps=10)
    with pytest.raises(ValueError, match="Unknown preset 'quick'"):
        GenerationSettings.make("quick")


def test_the_command_line_offers_exactly_the_settings_choices():
    """The CLI imports its choices from the settings module (no retyped lists that could drift)."""
    import argparse

    from genie_transforms.cli import build_parser
    from genie_transforms.settings import DTYPES, NOISE_RULES, OFFLOAD, TIMESTEP_SPACINGS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["generate"]
    choices = {a.dest: tuple(a.choices) for a in sub._actions if a.choices is not None}
    assert choices["preset"] == PRESET_CHOICES and choices["scheduler"] == SCHEDULER_CHOICES
    assert choices["timestep_spacing"] == TIMESTEP_SPACINGS and choices["noise_rule"] == NOISE_RULES
    assert choices["dtype"] == DTYPES and choices["offload"] == OFFLOAD
