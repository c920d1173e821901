"""Plain helpers shared by the tests and their subprocesses (fixtures live in `conftest.py`)."""

import numpy as np
from PIL import Image

NAMES = ["cat", "dog", "car", "boat"]


def build_dataset(n=6, names=NAMES):
    """A small image-classification `Dataset`: random 32 x 32 RGB images, labels cycling over `names`."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"image": images, "label": [i % len(names) for i in range(n)]}, features=features)


def generate_args(source_dir, tiny_model_path, out, *extra):
    """`genie generate` arguments on a small, fast job (extra options appended)."""
    return [
        "generate",
        "--dataset",
        str(source_dir),
        "--model",
        str(tiny_model_path),
        "--steps",
        "2",
        "--noise-ratio",
        "1.0",
        "--strategy",
        "random_k:1",
        "--chunk-size",
        "3",
        "--output",
        str(out),
        "--no-progress",
        *extra,
    ]


TOKEN = "hf_not_a_real_token_123"
"""A token that must never appear in any output."""


def card_info(**changes):
    """The card facts of a small test dataset (fields overridden by `changes`)."""
    from genie_transforms.hub import CardInfo

    info = {
        "model_id": "tiny",
        "model_revision": "abc123",
        "seed": 0,
        "noise_ratios": [0.75],
        "strategy": "random_k:1",
        "source_dataset": "local/tiny",
        "command": "genie generate ...",
        "pretty_name": "Tiny GeNIe",
        "embedder": "pooled",
    }
    return CardInfo(**{**info, **changes})


def colour_images(n_per_class=10, classes=6, seed=0):
    """Images whose class is their dominant colour channel pattern (a task a pooled embedder can solve)."""
    rng = np.random.default_rng(seed)
    palette = rng.uniform(40, 215, size=(classes, 3))
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            arr = np.clip(palette[c] + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            images.append(Image.fromarray(arr))
            labels.append(c)
    return images, labels


def pooled(x):
    """A small hand-made embedder: mean colour and mean of each image quadrant (12 features)."""
    import torch

    q = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)
    return torch.cat([x.mean(dim=(2, 3)), q], dim=1)


def save_image_folder(root, classes=("cat", "dog"), per_class=2, size=(32, 32), suffix="png"):
    """An imagefolder tree under `root` (one folder of random RGB images per class); returns `root`."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{suffix}")
    return root


class DenoiserCalls:
    """Every call of a denoiser: its input latents and timestep (a forward pre-hook, removed on exit)."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __enter__(self):
        import torch

        def hook(_, args, kwargs):
            sample = args[0] if args else kwargs.get("sample", kwargs.get("hidden_states"))
            t = args[1] if len(args) > 1 else kwargs.get("timestep")
            self.calls.append((sample.detach().clone(), float(torch.as_tensor(t).flatten()[0])))

        self.handle = self.module.register_forward_pre_hook(hook, with_kwargs=True)
        return self.calls

    def __exit__(self, *exc):
        self.handle.remove()
