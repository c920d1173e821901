"""Shared fixtures. The suite runs offline (nothing is fetched from the Hugging Face Hub) and writes only into
temporary folders: the caches of Hugging Face, matplotlib and every XDG-aware library point into one temporary
folder per test process, set before any of them is imported, and removed at exit."""

import atexit
import os
import shutil
import tempfile

SCRATCH = tempfile.mkdtemp(prefix="genie-tests-")
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
for _key, _sub in (("HF_HOME", "hf"), ("XDG_CACHE_HOME", "cache"), ("MPLCONFIGDIR", "matplotlib")):
    os.environ[_key] = os.path.join(SCRATCH, _sub)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from .helpers import NAMES, build_dataset

if os.environ.get("PYTEST_XDIST_WORKER"):  # `-n`: the workers share the cores torch would use alone
    torch.set_num_threads(max(1, torch.get_num_threads() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The tiny random pipeline, saved to disk so that tests go through the real loading code."""
    from genie_transforms.testing import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_path):
    from genie_transforms import GenieGenerator

    return GenieGenerator.from_pretrained(tiny_model_path, num_inference_steps=4, progress=False)


@pytest.fixture(scope="session")
def prompts():
    from genie_transforms import PromptMap

    return PromptMap(["cat", "dog", "car", "boat"])


@pytest.fixture
def rgb_images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(4)]


@pytest.fixture(scope="session")
def bank_path(tmp_path_factory, tiny_generator):
    """A small precomputed bank of hard negatives (4 classes, 2 targets per source), saved to disk."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    from genie_transforms.datasets import generate_hard_negatives

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(8)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["cat", "dog", "car", "boat"])})
    source = Dataset.from_dict({"image": images, "label": [i % 4 for i in range(8)]}, features=features)
    bank = generate_hard_negatives(source, tiny_generator, noise_ratio=[0.5, 1.0], targets="random_k:2", seed=0)
    path = tmp_path_factory.mktemp("bank") / "bank"
    bank.save_to_disk(str(path))
    return str(path)


@pytest.fixture(scope="session")
def names():
    """The class names of `make_dataset`'s datasets."""
    return list(NAMES)


@pytest.fixture(scope="session")
def make_dataset():
    return build_dataset


@pytest.fixture
def saved_source(tmp_path):
    """Save `build_dataset(n)` to disk and return its path: a source for the CLI."""

    def save(n):
        path = tmp_path / f"source-{n}"
        build_dataset(n).save_to_disk(str(path))
        return path

    return save


@pytest.fixture(scope="session")
def tiny_lora_path(tmp_path_factory):
    """A LoRA for the tiny pipeline's UNet, made in the test with peft (random, non-zero up-projections)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from genie_transforms.testing import make_tiny_pipeline

    unet = make_tiny_pipeline().unet
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(0)
    for name, param in unet.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=generator) * 0.5
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(
        folder,
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        safe_serialization=True,
    )
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="session")
def tiny_embedding_path(tmp_path_factory):
    """A textual-inversion embedding for the tiny text encoder (hidden size 32), bound to the token <kitten>."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("ti") / "learned_embeds.safetensors"
    save_file({"<kitten>": torch.randn(32, generator=torch.Generator().manual_seed(1)) * 3}, str(path))
    return path


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run only where CUDA is available (the device tool's machine); elsewhere they are skipped."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def classifier_weights(tmp_path_factory):
    """A trained-classifier checkpoint as users save one: a torchvision ResNet-18 with a 10-class head, as a
    safetensors state dict (random weights; nothing is downloaded)."""
    from safetensors.torch import save_file

    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    path = tmp_path_factory.mktemp("classifier") / "resnet18-10-classes.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """The test Hub on 127.0.0.1, with this process's huggingface_hub pointed at it; stopped after the test."""
    import huggingface_hub

    from .hub_server import LocalHub

    hub = LocalHub(tmp_path / "hub").start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield hub
    hub.stop()


@pytest.fixture
def ada_args(classifier_weights):
    """`genie ada` arguments on a small job with a torchvision embedder (extra options appended)."""

    def args(source_dir, model, out, *extra):
        return [
            "ada",
            "--dataset",
            str(source_dir),
            "--model",
            str(model),
            "--steps",
            "10",
            "--strategy",
            "random_k:2",
            "--chunk-size",
            "2",
            "--output",
            str(out),
            "--no-progress",
            "--embedder",
            "torchvision:resnet18",
            "--embedder-weights",
            str(classifier_weights),
            *extra,
        ]

    return args
