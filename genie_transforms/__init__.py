"""genie-transforms: GeNIe hard negatives (generative hard-negative images through diffusion) for
Albumentations, torchvision, Hugging Face datasets and the Hub."""

__version__ = "0.1.0"

from .generator import GenieGenerator, GenieOutput, GenieRecord, UnknownLabelError, check_noise_ratio  # noqa: E402
from .prompts import PromptMap, clean_class_name  # noqa: E402
from .seeding import derive_seed  # noqa: E402

__all__ = [
    "GenieGenerator",
    "GenieOutput",
    "GenieRecord",
    "PromptMap",
    "UnknownLabelError",
    "__version__",
    "check_noise_ratio",
    "clean_class_name",
    "derive_seed",
]
