"""The GPU check, ready for the few minutes a GPU is lent: the `gpu`-marked tests, then `genie bench` on the bundled
digits model (engine against the per-image loop and the strongest peer, the denoiser floor, peak memory, the fast
preset, exact and cheap GeNIe-Ada) and on Stable Diffusion 1.5's, SDXL's, SD3.5 medium's and (at reduced depth)
Flux's architectures with random weights in float16, each step under its own time limit (10 minutes at most in
all; not yet run on a GPU), into one JSON with the machine, every step's exit status and wall time, and every
figure.

    python benchmarks/gpu_check.py [--output benchmarks/results/gpu_check.json]
    python benchmarks/gpu_check.py --dry-run   # the same steps on the CPU at toy sizes (what CI runs)

It needs the package and its test dependencies importable (`pip install ".[dev]"`) and nothing from the network.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RANDOM = ("sd15-random", "sdxl-random", "sd3-random", "flux-random")
TINY = {"sd15-random": "sd", "sdxl-random": "sdxl", "sd3-random": "sd3", "flux-random": "flux-dev"}


def steps(dry: bool, work: Path) -> list[tuple[str, list[str], int]]:
    """(name, command, time limit in seconds) of each step; toy sizes on the CPU with `dry`."""
    python = sys.executable
    genie = [python, "-m", "genie_transforms.cli", "bench"]
    tests = [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"]
    out = [("gpu tests", tests, 120)]
    if dry:
        from genie_transforms.testing import save_tiny_pipeline

        toy = ["--device", "cpu", "--images", "2", "--steps", "4", "--batch-sizes", "2", "--training-images", "0"]
        digits = [*toy, "--ada-pairs", "2", "--quality-images", "2", "--cheap-steps", "3"]
        out.append(("digits", [*genie, *digits, "--output", str(work / "digits.json")], 300))
        for name, family in TINY.items():  # the tiny pipeline of each family stands in for its architecture
            model = save_tiny_pipeline(work / family, family=family)
            command = [
                *genie,
                "--model",
                str(model),
                *toy,
                "--resolution",
                "32",
                "--output",
                str(work / f"{name}.json"),
            ]
            out.append((name, command, 120))
        return out
    out.append(("digits", [*genie, "--repeats", "2", "--output", str(work / "digits.json")], 180))
    sizes = {"sd15-random": ("512", "16", "50"), "sdxl-random": ("1024", "8", "30")}
    for name in RANDOM:
        resolution, images, n_steps = sizes.get(name, ("1024", "8", "28"))
        command = [*genie, "--model", name, "--dtype", "float16", "--resolution", resolution, "--images", images]
        command += ["--steps", n_steps, "--batch-sizes", "1", images, "--output", str(work / f"{name}.json")]
        out.append((name, command, 75))
    return out


def machine() -> dict[str, object]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at toy sizes")
    args = parser.parse_args()
    report: dict[str, object] = {"dry_run": args.dry_run, "machine": machine(), "steps": {}}
    if not args.dry_run and report["machine"]["gpu"] is None:  # type: ignore[index]
        print("gpu_check: no CUDA GPU here; run with --dry-run to check the script on the CPU", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, command, limit in steps(args.dry_run, work):
            started = time.perf_counter()
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
                status, tail = done.returncode, (done.stdout + done.stderr)[-2000:]
            except subprocess.TimeoutExpired:
                status, tail = "timeout", f"stopped after {limit} s"
            seconds = time.perf_counter() - started
            figures = work / f"{name}.json"
            step = {"status": status, "seconds": round(seconds, 1), "tail": tail}
            if figures.is_file():
                step["figures"] = json.loads(figures.read_text())
            report["steps"][name] = step  # type: ignore[index]
            print(f"{name}: {status} in {seconds:.0f} s", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.output}")
    failed = [n for n, s in report["steps"].items() if s["status"] != 0]  # type: ignore[attr-defined]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
