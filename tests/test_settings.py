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
    check_noise_ratio,
    check_settings,
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
        check_settings(10, 7.5, 0)


def test_every_preset_names_known_schedulers_and_the_families_it_fits():
    assert set(PRESET_CHOICES) == set(PRESETS) == set(PRESET_FAMILIES)
    assert set(SCHEDULER_CHOICES) == set(SCHEDULERS) and set(FLOW_SCHEDULERS) <= set(SCHEDULERS)
    for name, preset in PRESETS.items():
        assert preset["scheduler"] in SCHEDULERS, name
        check_settings(preset["num_inference_steps"], preset["guidance_scale"], 1)
        if "flux" in PRESET_FAMILIES[name]:
            assert preset["scheduler"] in FLOW_SCHEDULERS
