"""Train `genie-tiny-context`: the bundled model's architecture on the context world (the digits drawn over five
contexts, a background colour and a coarse texture, drawn independently of the class; see
`genie_transforms.digits.context`), with digit-only prompts ("a photo of the digit {name}."; the context is never
named), and the context world's backbone.

The training data: every train-split scan rendered over `--renders` contexts drawn uniformly at random. The VAE,
the UNet with its small CLIP text encoder and the classifier-free guidance dropout are those of
`train_tiny_digits.py`. The backbone is the digits backbone trained on the base classes 0-4 over random contexts
with two heads, digit and context (the context head is for training only), so that its features carry both: the
context-shift benchmark needs a feature space in which context can mislead a few-shot classifier. Everything is
seeded; the settings go to `training.json` beside the weights, and the loss every 100 steps to `training_log.txt`.

    python hub_scripts/train_tiny_context.py                       # writes into the package's assets
    python hub_scripts/train_tiny_context.py --quick --out /tmp/m  # a few steps, for tests
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_tiny_digits import (  # the bundled model's recipe, shared
    BASE_CLASSES,
    LossLog,
    batches,
    save_model,
    shift_augment,
    train_unet,
    train_vae,
)

from genie_transforms.digits import DIGIT_NAMES, DigitsBackbone, build_clip_tokenizer
from genie_transforms.digits.assets import ASSETS
from genie_transforms.digits.context import CONTEXT_NAMES, render
from genie_transforms.digits.data import digits_arrays

MODEL_NAME = "genie-tiny-context"
BACKBONE_NAME = "context-backbone"


def training_set(renders: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train split's scans, each over `renders` contexts drawn uniformly and independently of the class."""
    images, labels, _ = digits_arrays("train")
    contexts = rng.integers(0, len(CONTEXT_NAMES), (renders, len(labels)))
    drawn = np.concatenate([render(images, c) for c in contexts])
    return drawn, np.tile(labels, renders), contexts.reshape(-1)


def train_backbone(
    pixels: torch.Tensor,
    labels: np.ndarray,
    contexts: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    log: LossLog,
) -> DigitsBackbone:
    """The digits backbone on the base classes, with a second (training-only) head that reads the context."""
    keep = np.isin(labels, BASE_CLASSES)
    x = pixels[torch.from_numpy(keep)]
    y, c = torch.from_numpy(labels[keep]), torch.from_numpy(contexts[keep])
    model = DigitsBackbone(num_classes=len(BASE_CLASSES))
    context_head = torch.nn.Linear(model.feature_dim, len(CONTEXT_NAMES))
    params = [*model.parameters(), *context_head.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-3)
    for step, idx in enumerate(bar := tqdm(batches(len(x), 64, steps, rng), total=steps, desc="backbone")):
        batch = shift_augment(x[idx], rng)
        features = model(batch)
        loss = F.cross_entropy(model.head(features), y[idx]) + F.cross_entropy(context_head(features), c[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        log.record(bar, step, loss.item())
    return model.eval()


def build_parser() -> argparse.ArgumentParser:
    """The script's options; their defaults are the shipped model's recipe."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ASSETS, help=f"folder to write {MODEL_NAME}/ and {BACKBONE_NAME}/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--renders", type=int, default=3, help="contexts drawn per training scan")
    parser.add_argument("--vae-steps", type=int, default=600)
    parser.add_argument("--unet-steps", type=int, default=2800)
    parser.add_argument("--backbone-steps", type=int, default=800)
    parser.add_argument("--latent-std", type=float, default=1.5, help="std of the scaled latents the UNet sees")
    parser.add_argument("--quick", action="store_true", help="a few steps of each part (for tests)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.vae_steps, args.unet_steps, args.backbone_steps, args.renders = 3, 3, 3, 1
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    images, labels, contexts = training_set(args.renders, rng)
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    log = LossLog()
    vae = train_vae(pixels, args.vae_steps, rng, log)
    with torch.no_grad():
        raw = torch.cat([vae.encode(part * 2 - 1).latent_dist.mode() for part in pixels.split(512)])
    scaling_factor = float(args.latent_std / raw.std())
    vae.register_to_config(scaling_factor=scaling_factor)
    tokenizer = build_clip_tokenizer(["a", "photo", "of", "the", "digit", *DIGIT_NAMES])
    unet, text_encoder = train_unet(raw * scaling_factor, labels, tokenizer, args.unet_steps, rng, log)
    backbone = train_backbone(pixels, labels, contexts, args.backbone_steps, rng, log)

    folder = args.out / MODEL_NAME
    save_model(vae, text_encoder, tokenizer, unet, folder)
    backbone.save(args.out / BACKBONE_NAME)
    summary = {
        "seed": args.seed,
        "renders": args.renders,
        "vae_steps": args.vae_steps,
        "unet_steps": args.unet_steps,
        "backbone_steps": args.backbone_steps,
        "scaling_factor": scaling_factor,
        "latent_std": args.latent_std,
        "contexts": list(CONTEXT_NAMES),
        "unet_parameters": sum(p.numel() for p in unet.parameters()),
        "train_images": len(images),
        "minutes": round((time.time() - started) / 60, 1),
        "torch": torch.__version__,
    }
    (folder / "training.json").write_text(json.dumps(summary, indent=2))
    log.write(folder)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
