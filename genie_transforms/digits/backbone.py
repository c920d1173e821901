"""The small CNN digit classifier shipped with the package: its penultimate features are the embedder for
GeNIe-Ada and the few-shot backbone on the digits. Trained on the base classes 0-4 only."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .assets import BACKBONE_DIR


class DigitsBackbone(nn.Module):
    """Three conv blocks and global average pooling: (N, 3, 32, 32) floats in [0, 1] -> (N, feature_dim)."""

    def __init__(self, feature_dim: int = 128, num_classes: int = 5) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, feature_dim, 3, padding=1),
            nn.BatchNorm2d(feature_dim),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Penultimate, globally pooled features (not normalised)."""
        return self.features(pixels)

    def classify(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits over the base classes it was trained on."""
        return self.head(self.features(pixels))

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, folder / "model.safetensors")
        config = {"feature_dim": self.feature_dim, "num_classes": self.num_classes}
        (folder / "config.json").write_text(json.dumps(config, indent=2))


def load_digits_backbone(folder: str | Path = BACKBONE_DIR) -> DigitsBackbone:
    """The bundled digits backbone (or the context world's, `CONTEXT_BACKBONE_DIR`, or one saved by a training
    script to `folder`), in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"No digits backbone in {folder}; train one with `python hub_scripts/train_tiny_digits.py` (or `train_tiny_context.py`)."
        )
    model = DigitsBackbone(**json.loads((folder / "config.json").read_text()))
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.eval()


__all__ = [
    "BACKBONE_DIR",
    "DigitsBackbone",
    "load_digits_backbone",
]
