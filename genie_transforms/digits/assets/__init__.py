"""Where the files the package ships for the digits live (paths only: no imports beyond pathlib)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent
DATA_FILE = ASSETS / "digits" / "digits.npz"
"""The 1,797 scans and their labels (credited in `digits/README.md`)."""
MODEL_DIR = ASSETS / "genie-tiny-digits"
"""The diffusion model, loaded by `GenieGenerator.from_pretrained("genie-tiny-digits")`."""
BACKBONE_DIR = ASSETS / "digits-backbone"
"""The classifier backbone (embedder of GeNIe-Ada, the filter and the few-shot evaluation on the digits)."""

CONTEXT_MODEL_DIR = ASSETS / "genie-tiny-context"
"""The context world's diffusion model, loaded by `GenieGenerator.from_pretrained("genie-tiny-context")`."""
CONTEXT_BACKBONE_DIR = ASSETS / "context-backbone"
"""The context world's classifier backbone (the embedder of its evaluation and of its GeNIe-Ada)."""

__all__ = ["ASSETS", "BACKBONE_DIR", "CONTEXT_BACKBONE_DIR", "CONTEXT_MODEL_DIR", "DATA_FILE", "MODEL_DIR"]
