"""Everything the package ships for its offline digits world, in one place:

- `data`: the handwritten digits (1,797 real 8x8 scans) at 32x32 RGB, the fixed train/held-out split the bundled
  model was trained with, its prompts and an oracle classifier;
- `assets/genie-tiny-digits`: the diffusion model, loaded by `GenieGenerator.from_pretrained("genie-tiny-digits")`
  (the reserved name resolves to [`MODEL_DIR`]);
- `backbone`: the small classifier whose features are the embedder on the digits (`assets/digits-backbone`);
- `context`: the context world, the digits drawn over five contexts (background colour and texture) drawn
  independently of the class, and its context oracle;
- `vocab`: the `CLIPTokenizer` built in code that the model (and the tiny test pipeline) use;
- `assets/__init__.py`: where these files are.

The names below are imported on first use, so that resolving the bundled model's folder loads neither torch nor
transformers.

Examples:
    >>> from genie_transforms.digits import load_digits_dataset, load_digits_backbone
    >>> load_digits_dataset("heldout").num_rows
    539
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

_EXPORTS = {
    "BACKBONE_DIR": ".assets",
    "DATA_FILE": ".assets",
    "MODEL_DIR": ".assets",
    "DigitsBackbone": ".backbone",
    "load_digits_backbone": ".backbone",
    "DIGIT_NAMES": ".data",
    "DIGITS_TEMPLATE": ".data",
    "RESOLUTION": ".data",
    "SPLIT_SEED": ".data",
    "SPLITS": ".data",
    "TRAIN_FRACTION": ".data",
    "digits_arrays": ".data",
    "digits_oracle": ".data",
    "digits_prompt_map": ".data",
    "digits_scans": ".data",
    "downsample": ".data",
    "load_digits_dataset": ".data",
    "upsample": ".data",
    "build_clip_tokenizer": ".vocab",
    "CONTEXT_NAMES": ".context",
    "context_digits_arrays": ".context",
    "load_context_digits": ".context",
    "read_context": ".context",
}

__all__ = [
    "BACKBONE_DIR",
    "CONTEXT_NAMES",
    "DATA_FILE",
    "DIGITS_TEMPLATE",
    "DIGIT_NAMES",
    "MODEL_DIR",
    "RESOLUTION",
    "SPLITS",
    "SPLIT_SEED",
    "TRAIN_FRACTION",
    "DigitsBackbone",
    "build_clip_tokenizer",
    "context_digits_arrays",
    "digits_arrays",
    "digits_oracle",
    "digits_prompt_map",
    "digits_scans",
    "downsample",
    "load_context_digits",
    "load_digits_backbone",
    "load_digits_dataset",
    "read_context",
    "upsample",
]

if TYPE_CHECKING:  # pragma: no cover
    from .assets import BACKBONE_DIR, DATA_FILE, MODEL_DIR
    from .backbone import DigitsBackbone, load_digits_backbone
    from .context import CONTEXT_NAMES, context_digits_arrays, load_context_digits, read_context
    from .data import (
        DIGIT_NAMES,
        DIGITS_TEMPLATE,
        RESOLUTION,
        SPLIT_SEED,
        SPLITS,
        TRAIN_FRACTION,
        digits_arrays,
        digits_oracle,
        digits_prompt_map,
        digits_scans,
        downsample,
        load_digits_dataset,
        upsample,
    )
    from .vocab import build_clip_tokenizer


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
