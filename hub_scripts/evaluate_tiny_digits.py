"""Measure the figures of the `genie-tiny-digits` model card and print them (as a table and as JSON).

On held-out sources, each with a random other digit as target, at 50 DPM-Solver++ steps and guidance 7.5, an
oracle classifier (an RBF SVM on the train split) reads every hard negative; for each r we report the fractions
read as the target, as the source, and as neither. Sample diversity: mean pairwise distance between r = 1
samples of a class over that between real held-out images of that class, averaged over classes.

    python hub_scripts/evaluate_tiny_digits.py [--model genie-tiny-digits] [--limit 539] [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.digits import digits_arrays, digits_oracle, digits_prompt_map, downsample
from genie_transforms.evaluation import label_flip_curve, sample_diversity

RATIOS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def oracle_predict(images: list) -> np.ndarray:
    return digits_oracle().predict(downsample(np.stack([np.asarray(im) for im in images])))


def measure(
    model: str = "genie-tiny-digits",
    limit: int | None = None,
    steps: int = 50,
    guidance: float = 7.5,
    seed: int = 0,
    per_class: int = 20,
) -> dict:
    rng = np.random.default_rng(seed)
    images, labels, index = digits_arrays("heldout")
    order = rng.permutation(len(images))[:limit]
    images, labels, index = images[order], labels[order], index[order]
    targets = np.array([rng.choice([c for c in range(10) if c != y]) for y in labels])
    gen = GenieGenerator.from_pretrained(model, num_inference_steps=steps, guidance_scale=guidance, batch_size=64)
    prompts = digits_prompt_map()
    started = time.time()
    curve = label_flip_curve(
        gen,
        [Image.fromarray(im) for im in images],
        labels.tolist(),
        targets.tolist(),
        RATIOS,
        oracle=oracle_predict,
        prompts=prompts,
        seed=seed,
        source_ids=[f"digits-{i}" for i in index],
    )
    # diversity: r = 1 samples of each class (from random sources) against the real held-out images of the class
    all_images, all_labels, _ = digits_arrays("heldout")
    sources = [Image.fromarray(all_images[i]) for i in rng.choice(len(all_images), per_class * 10)]
    out = gen.generate(sources, [c for c in range(10) for _ in range(per_class)], 1.0, seed=seed, prompts=prompts)
    samples = np.stack([np.asarray(im, dtype=np.float32) for im in out.images]).reshape(10, per_class, -1)
    diversity = [sample_diversity(samples[c], all_images[all_labels == c].astype(np.float32)) for c in range(10)]
    return {
        "model": model,
        "sources": len(images),
        "steps": steps,
        "guidance_scale": guidance,
        "seed": seed,
        "label_flip": curve,
        "diversity_per_class": [round(d, 3) for d in diversity],
        "diversity": float(np.mean(diversity)),
        "seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="genie-tiny-digits")
    parser.add_argument("--limit", type=int, default=None, help="number of held-out sources (default: all 539)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--card", type=Path, default=None, help="write the model card (README.md) with the figures")
    args = parser.parse_args(argv)
    figures = measure(args.model, args.limit, args.steps, args.guidance, args.seed)
    print(f"{figures['sources']} held-out sources, {args.steps} steps, guidance {args.guidance}")
    print("| r | target | source | neither |\n| --- | --- | --- | --- |")
    for r, row in figures["label_flip"].items():
        print(f"| {r} | {row['target']:.1%} | {row['source']:.1%} | {row['neither']:.1%} |")
    print(f"sample diversity at r = 1 (generated / real pairwise distance): {figures['diversity']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if args.card:
        args.card.write_text(model_card(figures))
    return figures


def model_card(figures: dict) -> str:
    """The bundled model's README: how it was trained, the split, the measured figures, what it is for."""
    training = json.loads(
        (Path(__file__).parents[1] / "genie_transforms/digits/assets/genie-tiny-digits/training.json").read_text()
    )
    rows = "\n".join(
        f"| {r} | {v['target']:.1%} | {v['source']:.1%} | {v['neither']:.1%} |"
        for r, v in figures["label_flip"].items()
    )
    return f"""---
license: mit
library_name: diffusers
pipeline_tag: image-to-image
tags: [genie, hard-negatives, tiny, digits, offline]
---

# genie-tiny-digits

A small, real, text-conditioned latent diffusion model shipped inside `genie-transforms`, so that the library's
demo, tests and teaching material run offline on a CPU. It is a standard diffusers Stable Diffusion img2img
pipeline; **it is not a substitute for Stable Diffusion**: it only knows ten handwritten digits at 32 x 32 px.

```python
from genie_transforms import GenieGenerator
gen = GenieGenerator.from_pretrained("genie-tiny-digits")   # offline, from the package
```

## Training

Trained by `hub_scripts/train_tiny_digits.py` (seed {training["seed"]}, {training["minutes"]} minutes on 2 CPU cores,
torch {training["torch"]}) on scikit-learn's handwritten digits (`load_digits`: 1,797 real 8x8 scans, upsampled
bilinearly to 32 x 32 RGB), **train split only**: 70% of each class ({training["train_images"]} images), chosen
by a seeded permutation (`genie_transforms.digits`); the other 30% (539 images) are held out for evaluation.

| part | set-up |
| --- | --- |
| VAE | AutoencoderKL, 3 down blocks (32, 64, 64 channels), 32x32 -> 8x8x4 latents, L1 + MSE + 1e-6 KL, {training["vae_steps"]} steps at batch 64; scaling factor {training["scaling_factor"]:.4f}, which scales the latents to std {training["latent_std"]} (see below) |
| UNet | UNet2DConditionModel, channels 64/128, cross-attention at 8x8 and 4x4, {training["unet_parameters"] / 1e6:.1f}M parameters, epsilon prediction, scaled-linear betas (SD's), {training["unet_steps"]} steps at batch 64, AdamW 5e-4 with warm-up and cosine decay, EMA 0.999 |
| text encoder | CLIPTextModel (2 layers, width 64) with a CLIPTokenizer built in code (characters plus whole-word tokens), trained with the UNet |
| prompts | `"a photo of the digit {{name}}."` (zero ... nine); 10% empty prompts for classifier-free guidance |
| scheduler | DPM-Solver++ config with the training betas |
| weights | safetensors, float16 on disk (loaded as float32 on CPU) |

Latent scale: with Stable Diffusion's convention (latents scaled to unit std) the 8x8x4 latents of a 32-px digit
lose their class to the noise early: a first model trained so kept only 65-72% of held-out sources at r = 0.3.
Scaling the latents to std 1.5 raises the signal-to-noise ratio at every timestep by 2.25x, which moves the
label-flip curve towards higher r (the table below), the way SD's curve sits on 512-px images.

The package also ships `digits-backbone/`: a small CNN classifier trained on the **base classes 0-4 only** (train
split); its penultimate features are the embedder of GeNIe-Ada and the few-shot backbone, so that few-shot
episodes on the novel digits 5-9 are honest.

## Figures

Measured by `hub_scripts/evaluate_tiny_digits.py` on all {figures["sources"]} held-out sources, each turned into a
random other digit, at {figures["steps"]} DPM-Solver++ steps and guidance {figures["guidance_scale"]}; an oracle (an
RBF SVM on the train split's 8x8 views, 99.4% on the held-out split) reads every image.

| r | reads as the target | reads as the source | neither |
| --- | --- | --- | --- |
{rows}

Sample diversity at r = 1 (mean pairwise distance of generated samples of a class over that of its real held-out
images, averaged over the classes): {figures["diversity"]:.2f}.

## Intended use

Offline demos, tests and teaching of GeNIe; a stand-in for Stable Diffusion where no network or GPU is at hand.
Not for any use where the images matter beyond that.
"""


if __name__ == "__main__":
    main()
