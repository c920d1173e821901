"""genie-transforms: GeNIe hard negatives (generative hard-negative images through diffusion) for
Albumentations, torchvision, Hugging Face datasets and the Hub.

The public names are imported on first use, so that `import genie_transforms` (and `genie --help`) does not
load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .extras import lazy_exports

_EXPORTS = {
    "GenieGenerator": ".generator",
    "GenieOutput": ".generator",
    "GenieRecord": ".generator",
    "GenieSweep": ".generator",
    "UnknownLabelError": ".generator",
    "check_noise_ratio": ".generator",
    "denoising_steps": ".generator",
    "LoraWeights": ".loading",
    "TextualInversion": ".loading",
    "PromptMap": ".prompts",
    "clean_class_name": ".prompts",
    "derive_seed": ".seeding",
    "GenieWarning": ".errors",
}

__all__ = [
    "GenieGenerator",
    "GenieOutput",
    "GenieRecord",
    "GenieSweep",
    "GenieWarning",
    "LoraWeights",
    "PromptMap",
    "TextualInversion",
    "UnknownLabelError",
    "__version__",
    "check_noise_ratio",
    "clean_class_name",
    "denoising_steps",
    "derive_seed",
]

if TYPE_CHECKING:  # pragma: no cover
    from .errors import GenieWarning
    from .generator import (
        GenieGenerator,
        GenieOutput,
        GenieRecord,
        GenieSweep,
        UnknownLabelError,
        check_noise_ratio,
        denoising_steps,
    )
    from .loading import LoraWeights, TextualInversion
    from .prompts import PromptMap, clean_class_name
    from .seeding import derive_seed


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
