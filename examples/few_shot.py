"""Few-shot classification with GeNIe hard negatives, on the paper's protocol: adapt the data, model and backbone.

Runs offline on the shipped digits model: 5-way 1-shot episodes on the novel digits 5-9 (the backbone was trained
on 0-4 only), with every augmentation method on the same budget.

    python examples/few_shot.py --episodes 50 --methods none txt2img genie genie_ada
"""

import argparse
import json

from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.digits import digits_arrays, digits_prompt_map
from genie_transforms.embedders import digits_embedder
from genie_transforms.evaluation import METHODS, FewShotConfig, evaluate_few_shot

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--episodes", type=int, default=50)
parser.add_argument("--shots", type=int, default=1)
parser.add_argument("--methods", nargs="+", default=list(METHODS))
parser.add_argument("--steps", type=int, default=50)
args = parser.parse_args()

# 1. Your data: images and integer labels (here: the held-out digits), and the classes to draw episodes from.
images, labels, _ = digits_arrays("heldout")
images = [Image.fromarray(x) for x in images]
# 2. Your model and its prompts (Stable Diffusion: GenieGenerator.from_pretrained("stable-diffusion-v1-5/...")).
generator = GenieGenerator.from_pretrained(
    "genie-tiny-digits", num_inference_steps=args.steps, batch_size=64, progress=False
)
# 3. Your frozen backbone (torchvision_embedder(resnet, weights.transforms()) for a torchvision model).
embedder = digits_embedder()

config = FewShotConfig(
    n_way=5,
    k_shot=args.shots,
    n_query=16,
    n_episodes=args.episodes,
    flip=False,
    crop_scale=(0.6, 1.0),
    methods=tuple(args.methods),
)
results = evaluate_few_shot(
    images, labels.tolist(), embedder, config, generator=generator, prompts=digits_prompt_map(), classes=[5, 6, 7, 8, 9]
)
for method, row in results["methods"].items():
    print(f"{method:>12}: {100 * row['mean']:.1f} +- {100 * row['ci95']:.1f}")
with open("few_shot_results.json", "w") as f:
    json.dump(results, f, indent=2)
