"""`genie env`: versions and devices, for bug reports."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform

PACKAGES = (
    "genie-transforms", "torch", "diffusers", "transformers", "datasets", "huggingface-hub", "safetensors",
    "accelerate", "peft", "albumentations", "albumentationsx", "torchvision", "scikit-learn", "numpy", "pillow",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("env", help="print versions and devices for bug reports", description=__doc__)
    parser.set_defaults(func=run)


def report() -> dict[str, str]:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    return info


def run(args: argparse.Namespace) -> int:
    for key, value in report().items():
        print(f"- {key}: {value}")
    return 0
