"""What a noise ratio r means in each model family: steps run, start timestep, sigma and signal-to-noise ratio (SNR)
at r, under the default rule (`noise_rule="steps"`) and the SNR-matched one (`noise_rule="sd15-snr"`), on each
family's published scheduler configuration and default steps. Schedules only: no weights are needed.

    python benchmarks/r_tables.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import torch
from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler

from genie_transforms.families import FAMILIES, sd15_snr
from genie_transforms.settings import denoising_steps

GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}
CASES = {  # family, scheduler (as the engine runs it by default), steps, resolution, VAE scale
    "Stable Diffusion 1.5 (paper settings)": ("sd", DPMSolverMultistepScheduler(**SD_BETAS), 50, 512, 8),
    "SDXL base": ("sdxl", DPMSolverMultistepScheduler(**SD_BETAS), 50, 1024, 8),
    "SD3 / SD3.5 (shift 3)": ("sd3", FlowMatchEulerDiscreteScheduler(shift=3.0), 28, 1024, 8),
    "Flux dev (dynamic shift, 1024 px)": (
        "flux",
        FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
            shift=3.0,
        ),
        28,
        1024,
        8,
    ),
    "Flux schnell": ("flux", FlowMatchEulerDiscreteScheduler(shift=1.0), 4, 1024, 8),
}


def schedule_only(family: str, scheduler, vae_scale_factor: int):
    """A family adapter over a stand-in pipeline that holds only a scheduler (start levels need nothing else)."""
    config = SimpleNamespace(patch_size=2 if family == "sd3" else 1)
    pipe = SimpleNamespace(
        scheduler=scheduler,
        vae_scale_factor=vae_scale_factor,
        transformer=SimpleNamespace(config=config),
        _execution_device=torch.device("cpu"),
    )
    return FAMILIES[family](pipe)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    tables = {}
    for name, (family, scheduler, steps, resolution, scale) in CASES.items():
        adapter = schedule_only(family, scheduler, scale)
        rows = []
        for r in GRID:
            row = {"r": r, "sd15_snr": sd15_snr(r)}
            by_rule = {
                "steps": denoising_steps(r, steps),
                "sd15-snr": adapter.steps_for_snr(steps, sd15_snr(r), resolution),
            }
            for rule, run in by_rule.items():
                level, _ = adapter.start(steps, run, resolution)
                row[rule] = {"steps_run": run, "timestep": level.timestep, "sigma": level.sigma, "snr": level.snr}
            rows.append(row)
        tables[name] = {"family": family, "steps": steps, "resolution": resolution, "rows": rows}
        print(f"\n{name}: {steps} steps, {resolution} px")
        print("| r | steps run | start t | sigma | SNR | sd15-snr: steps run | SNR | SD 1.5's SNR at r |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            a, b = row["steps"], row["sd15-snr"]
            print(
                f"| {row['r']} | {a['steps_run']} | {a['timestep']:.0f} | {a['sigma']:.3f} | {a['snr']:.4f} | "
                f"{b['steps_run']} | {b['snr']:.4f} | {row['sd15_snr']:.4f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(tables, indent=2) + "\n")
    return tables


if __name__ == "__main__":
    main()
