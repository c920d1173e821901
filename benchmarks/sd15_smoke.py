"""A CPU smoke test of the bench model with Stable Diffusion 1.5's architecture (random weights, 512 px, built in
code): build it, and generate one image through the engine at 2 steps and r = 0.5 (one guided UNet pass, plus the
VAE's encode and decode).

    python benchmarks/sd15_smoke.py

On a GPU, measure it with `genie bench --model sd15-random --dtype float16` instead.
"""

from __future__ import annotations

import resource
import time

import numpy as np
from PIL import Image

from genie_transforms import GenieGenerator
from genie_transforms.architectures import make_random_pipeline

if __name__ == "__main__":
    started = time.time()
    pipe = make_random_pipeline("sd15-random")
    built = time.time()
    gen = GenieGenerator(pipe, num_inference_steps=2, progress=False)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    out = gen.generate([image], [0], 0.5, seed=0, prompts=["cat", "dog"])
    done = time.time()
    assert out.images[0].size == (512, 512) and out.records[0].steps_run == 1
    print(
        f"built in {built - started:.0f} s; one 512-px image (1 of 2 steps, guided) in {done - built:.0f} s; "
        f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB"
    )
