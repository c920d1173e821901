"""Where a transform's hard negatives come from: generated online, or drawn from a precomputed bank.

Both sources share one interface, the [`HardNegativeSource`] protocol, used by the Albumentations and torchvision
adapters alike: `draw(label, rng) -> params` (small, JSON-friendly values; no images) and
`images(sources, params) -> images`. An object of your own with that interface can be passed as a transform's
`bank` (e.g. negatives kept in your own store).
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from .generator import GenieGenerator, check_noise_ratio
from .images import ImageSpec, image_spec, restore
from .labels import check_label_mode, label_index, label_vector, like
from .prompts import PromptMap
from .targets import TargetStrategy, get_strategy

BANK_COLUMNS = ("image", "label", "source_label")

DECODED_CACHE_BYTES = 64 * 2**20
"""Bank images a `BankSource` keeps per process, decoded and fitted to the form and size of the samples they were
drawn for (least recently used dropped first): about 430 images as 224-px uint8 crops. A bank that fits is decoded
and resized once per process (DataLoader worker); a larger one on every miss. Set it before the DataLoader starts
to change it."""

Resize = Callable[[np.ndarray, tuple[int, int]], np.ndarray]
"""Resizes an HWC uint8 RGB array to (height, width). Each adapter passes its host's own resize and interpolation
(OpenCV for Albumentations, `v2.functional.resize` for torchvision), so that a bank image fitted to a sample's size
is resized the way the host's own transforms resize."""


def as_generator(generator: GenieGenerator | str | Mapping[str, Any]) -> GenieGenerator:
    """A `GenieGenerator` from itself, a model id/path, or its [`GenieGenerator.config`]."""
    if isinstance(generator, GenieGenerator):
        return generator
    if isinstance(generator, str):
        return GenieGenerator.from_pretrained(generator, progress=False)
    if isinstance(generator, Mapping):
        return GenieGenerator.from_config(generator).with_settings(progress=False)
    raise TypeError(
        f"`generator` must be a GenieGenerator, a model id or path, or a dict; got {type(generator).__name__}."
    )


@runtime_checkable
class HardNegativeSource(Protocol):
    """What a source of hard negatives provides to `GenieTransform` (both hosts).

    - `kind`: a word for messages (`"bank"`, `"online"`, ...); `num_classes`, and `names` (class names in label
      order, or None), checked against the task's classes.
    - `serves(label)`: whether it has a negative for a sample of class `label`.
    - `draw(label, rng)`: choose one with `rng` (a numpy Generator; the only randomness allowed), as a small dict
      with at least `source_label`, `target` and `noise_ratio` (used for the label).
    - `images(sources, params)`: the images of those draws, one per source, in each source's form and size.
    """

    @property
    def kind(self) -> str: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def names(self) -> list[str] | None: ...

    def serves(self, label: int) -> bool: ...

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any]: ...

    def images(self, sources: list, params: list[dict[str, Any]]) -> list: ...


class OnlineSource:
    """Generate the hard negative on the fly with a `GenieGenerator` (GPU-bound: one generation per applied sample)."""

    kind = "online"

    def __init__(
        self,
        generator: GenieGenerator | str | Mapping[str, Any],
        prompts: PromptMap | Sequence[str] | Mapping[int, str] | None,
        noise_ratio: float = 0.8,
        targets: str | TargetStrategy | Mapping[str, Any] = "random_k:1",
    ) -> None:
        if prompts is None:
            raise ValueError(
                "Online GenieTransform needs `prompts` (a PromptMap, or class names by label) to know what each "
                "target class is called; or use a precomputed `bank`."
            )
        self.generator = as_generator(generator)
        self.prompts = self.generator.prompt_map(prompts)
        self.noise_ratio = check_noise_ratio(noise_ratio, self.generator.num_inference_steps)
        self.strategy = get_strategy(targets)
        self.classes = self.prompts.labels

    @property
    def num_classes(self) -> int:
        return max(self.classes) + 1

    @property
    def names(self) -> list[str] | None:
        return [self.prompts.names.get(i, str(i)) for i in range(self.num_classes)]

    def serves(self, label: int) -> bool:
        return label in self.prompts

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any]:
        if label not in self.prompts:
            raise ValueError(
                f"Label {label!r} is not in the prompt map (classes {self.classes[:20]}); add its name to `prompts`."
            )
        seed = int(rng.integers(2**31))
        (target,) = self.strategy(label, self.classes, source_id="", seed=seed)[:1]
        return {"source_label": label, "target": int(target), "noise_ratio": self.noise_ratio, "seed": seed}

    def images(self, sources: list, params: list[dict[str, Any]]) -> list:
        """One batched generation for all applied samples; each sample's noise comes from its own drawn seed."""
        result = self.generator.generate(
            sources,
            [p["target"] for p in params],
            self.noise_ratio,
            seed=0,
            prompts=self.prompts,
            source_ids=[f"transform-{p['seed']}" for p in params],
            progress=False,
        )
        return list(result.images)


class BankSource:
    """Draw a precomputed hard negative whose source class is the sample's label, in O(1) (a per-class index).

    A bank image of another size than the sample's is resized with `resize` (the host's, see [`Resize`]); bicubic
    with PIL when none is given. Fitted images are kept up to [`DECODED_CACHE_BYTES`] per process."""

    kind = "bank"

    def __init__(self, bank: Any, resize: Resize | None = None) -> None:
        from datasets import ClassLabel, Dataset

        if isinstance(bank, (str, os.PathLike)):
            bank = load_bank(bank)
        if isinstance(bank, Mapping):  # a DatasetDict (Albumentations hands it over as a plain dict)
            splits = list(bank)
            raise TypeError(
                f"`bank` holds several splits {splits}; pass one split: bank=bank[{(splits or ['train'])[0]!r}]."
            )
        if not isinstance(bank, Dataset):
            raise TypeError(f"`bank` must be a datasets.Dataset or a path to one, got {type(bank).__name__}.")
        missing = [c for c in BANK_COLUMNS if c not in bank.column_names]
        if missing:
            raise ValueError(
                f"The bank lacks the columns {missing} (it has {bank.column_names}); build it with "
                "genie_transforms.datasets.generate_hard_negatives or `genie generate`."
            )
        if len(bank) == 0:
            raise ValueError("The bank is empty; generate some hard negatives first.")
        check_bank_columns(bank)
        from datasets import Image as ImageFeature

        images = bank.select_columns(["image"]).cast_column("image", ImageFeature(decode=False))
        self.bank = images.flatten_indices() if images._indices is not None else images  # rows read by position
        self._column: Any = None  # the encoded images as an Arrow column, opened once per process
        # (row, the sample's ImageSpec) -> the row's image fitted to that sample's form and size (never given out)
        self._cache: OrderedDict[tuple[int, ImageSpec], Any] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        sources = np.asarray(bank["source_label"])
        self.targets = np.asarray(bank["label"])
        ratios = bank["noise_ratio"] if "noise_ratio" in bank.column_names else [None] * len(bank)
        self.ratios = np.array([1.0 if r is None else r for r in ratios], dtype=np.float64)
        # only generated rows are hard negatives: a bank made with keep_original=True also holds the real images
        generated = np.asarray(bank["is_generated"], dtype=bool) if "is_generated" in bank.column_names else None
        drawable = np.ones(len(bank), dtype=bool) if generated is None else generated
        self.index = {
            int(c): rows for c in np.unique(sources) if len(rows := np.flatnonzero((sources == c) & drawable))
        }
        self.files = _file_stats(self.bank)  # checked again when a worker re-opens the bank
        feature = bank.features["label"]
        self.num_classes = feature.num_classes if isinstance(feature, ClassLabel) else int(self.targets.max()) + 1
        self.names = list(feature.names) if isinstance(feature, ClassLabel) else None
        self.resize = resize

    def serves(self, label: int) -> bool:
        return label in self.index

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any]:
        rows = self.index.get(int(label))
        if rows is None:
            raise ValueError(
                f"The bank has no hard negative whose source class is {label}; generate some for that class "
                f"(the bank covers source classes {sorted(self.index)[:20]})."
            )
        row = int(rows[rng.integers(len(rows))])
        return {
            "source_label": int(label),
            "target": int(self.targets[row]),
            "bank_index": row,
            "noise_ratio": float(self.ratios[row]),
        }

    def images(self, sources: list, params: list[dict[str, Any]]) -> list:
        """The bank's images, in the form (PIL / numpy / tensor), size and channels of each source; each one the
        caller's own (a copy of the cached one)."""
        out = []
        for source, p in zip(sources, params):
            spec = image_spec(source)
            if spec.alpha is not None:  # the sample's own alpha channel goes back on: nothing to share
                out.append(restore(self._decode(p["bank_index"], spec), spec))
                continue
            key = (p["bank_index"], spec)
            with self._lock:
                cached: Any = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
            if cached is None:
                cached = restore(self._decode(p["bank_index"], spec), spec)
                self._keep(key, cached)
            out.append(cached.clone() if isinstance(cached, torch.Tensor) else cached.copy())
        return out

    def _decode(self, row: int, spec: ImageSpec) -> np.ndarray:
        """Row `row`'s image as an HWC uint8 RGB array, resized to the spec's size with `resize` (when given), read
        straight from its encoded bytes (or file) in the Arrow table: no `datasets` row formatting."""
        with self._lock:
            if self._column is None:
                self._column = self.bank.data.column("image")
            value = self._column[row].as_py()
        image = Image.open(io.BytesIO(value["bytes"])) if value.get("bytes") else Image.open(value["path"])
        array = np.array(image if image.mode == "RGB" else image.convert("RGB"))
        if self.resize is not None and array.shape[:2] != (spec.height, spec.width):
            array = np.array(self.resize(array, (spec.height, spec.width)))  # its own memory, whatever resize gives
        return array

    def _keep(self, key: tuple[int, ImageSpec], image: Any) -> None:
        """Cache a fitted image, dropping the least recently used beyond [`DECODED_CACHE_BYTES`]."""
        with self._lock:
            self._cache[key] = image
            self._cache_bytes += _nbytes(image)
            while self._cache_bytes > DECODED_CACHE_BYTES and self._cache:
                self._cache_bytes -= _nbytes(self._cache.popitem(last=False)[1])

    def __getstate__(self) -> dict[str, Any]:
        # workers reopen the column from the (memory-mapped) dataset and fill their own cache
        return {**self.__dict__, "_column": None, "_cache": OrderedDict(), "_cache_bytes": 0, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())
        if _file_stats(self.bank) != self.files:
            raise RuntimeError(
                "The bank's files changed since this transform was made (regenerated or replaced): its labels no "
                "longer describe its images. Build the transform again on the new bank."
            )


def _file_stats(ds: Any) -> list[tuple[str, int, int, int]]:
    """(path, size, mtime, inode) of the Arrow files a dataset is memory-mapped from ([] for one in memory)."""
    stats = []
    for entry in ds.cache_files:
        st = os.stat(entry["filename"])
        stats.append((entry["filename"], st.st_size, st.st_mtime_ns, st.st_ino))
    return stats


def load_bank(path: str | os.PathLike) -> Any:
    """A bank given as a path: a job folder (its merged `dataset/`), a dataset folder or a `save_to_disk` folder,
    with its one split whatever its name; several splits are refused, naming them."""
    from datasets import DatasetDict, load_dataset, load_from_disk

    folder = Path(path).expanduser()
    if (folder / "job.json").is_file() and (folder / "dataset").is_dir():
        folder = folder / "dataset"
    if not folder.exists():
        from .jobs import load_source

        return load_source(str(path))  # a Hub id (or a clear error for a missing folder)
    saved = (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()
    loaded = load_from_disk(str(folder)) if saved else load_dataset(str(folder))
    if isinstance(loaded, DatasetDict):
        if len(loaded) != 1:
            raise TypeError(f"The bank {path} holds several splits {list(loaded)}; pass one: bank=ds[split].")
        (loaded,) = loaded.values()
    return loaded


def check_bank_columns(bank: Any) -> None:
    """Clear errors for bank columns that would mislabel: labels that are not class indices, missing values, noise
    ratios that are not numbers, and `label` / `source_label` with different class names (one of them remapped with
    `align_labels_with_mapping` or `cast_column`)."""
    from datasets import ClassLabel, Value

    features = bank.features
    for column in ("label", "source_label"):
        feature = features[column]
        if not isinstance(feature, ClassLabel) and not (isinstance(feature, Value) and feature.dtype.startswith("int")):
            raise ValueError(
                f"The bank's {column!r} column is {feature}, not class indices (a ClassLabel or ints); cast it with "
                f"bank.cast_column({column!r}, ClassLabel(names=[...]))."
            )
        if bank.with_format("arrow")[column].null_count:  # the rows the bank holds (after any filter or select)
            raise ValueError(f"The bank's {column!r} column has missing values (None); drop those rows first.")
    label, source = features["label"], features["source_label"]
    if isinstance(label, ClassLabel) and isinstance(source, ClassLabel) and label.names != source.names:
        raise ValueError(
            f"The bank's 'label' and 'source_label' name other classes ({label.names[:5]} and {source.names[:5]}): "
            "one was remapped (align_labels_with_mapping or cast_column) and not the other, so draws would take the "
            "wrong source class. Remap both columns the same way, or use the bank as it was generated."
        )
    if "noise_ratio" in features and not (
        isinstance(features["noise_ratio"], Value) and features["noise_ratio"].dtype.startswith("float")
    ):
        raise ValueError(f"The bank's 'noise_ratio' column is {features['noise_ratio']}, not float numbers.")


def _nbytes(image: Any) -> int:
    if isinstance(image, Image.Image):
        return image.width * image.height * len(image.getbands())
    if isinstance(image, torch.Tensor):
        return image.numel() * image.element_size()
    return int(image.nbytes)


def make_source(
    generator: Any = None,
    bank: Any = None,
    prompts: Any = None,
    noise_ratio: float = 0.8,
    targets: Any = "random_k:1",
    resize: Resize | None = None,
) -> HardNegativeSource:
    """Validate the transform's configuration and build its source of hard negatives (at construction): a bank
    (dataset or path, its images fitted to each sample with `resize`), a `HardNegativeSource` of your own passed as
    `bank`, or online generation."""
    if (generator is None) == (bank is None):
        raise ValueError(
            "GenieTransform needs exactly one of `bank` (precomputed, recommended) or `generator` (online)."
        )
    if isinstance(bank, HardNegativeSource):
        return bank
    if bank is not None:
        return BankSource(bank, resize)
    return OnlineSource(generator, prompts, noise_ratio, targets)


UNSERVED = ("error", "pass")


class TransformCore:
    """What both `GenieTransform`s do, written once: check the configuration against the task's classes, read a
    label (the contract of `genie_transforms.labels`), draw a hard negative, and give the label back.

    `num_classes` / `classes` (the task's class count, or its class names in label order) are checked against the
    bank's or prompt map's classes at construction; task classes the source cannot serve (a bank with no negative
    of that source class) are listed then, and either refused (`unserved="error"`) or passed through unchanged
    (`unserved="pass"`), never a crash mid-epoch.
    """

    def __init__(
        self,
        source: HardNegativeSource,
        label_mode: str = "hard",
        num_classes: int | None = None,
        classes: Any = None,
        unserved: str = "error",
    ) -> None:
        self.source = source
        self.label_mode = check_label_mode(label_mode)
        if unserved not in UNSERVED:
            raise ValueError(f"`unserved` must be 'error' or 'pass', got {unserved!r}.")
        if classes is not None:
            names = list(classes)
            if num_classes is not None and num_classes != len(names):
                raise ValueError(f"`num_classes`={num_classes} but `classes` names {len(names)} classes.")
            num_classes = len(names)
            if source.names is not None and [n.lower() for n in source.names] != [str(n).lower() for n in names]:
                raise ValueError(
                    f"The task's classes {names[:10]} are not the {source.kind}'s {source.names[:10]}; a "
                    f"{source.kind} made for another class list would give wrong targets."
                )
        if num_classes is not None:
            if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
                raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
            if num_classes != source.num_classes:
                raise ValueError(
                    f"The task has {num_classes} classes but the {source.kind} has {source.num_classes}: its targets "
                    f"would be classes the task does not have. Use a {source.kind} made for these classes."
                )
        self.num_classes = num_classes or source.num_classes
        self.unserved: set[int] = set()
        if source.kind == "bank" or num_classes is not None:  # the bank's classes are known without num_classes
            missing = [c for c in range(self.num_classes) if not source.serves(c)]
            if missing and unserved == "error":
                raise ValueError(
                    f"The {source.kind} has no hard negative for the source classes {missing[:20]}; samples of those "
                    "classes could not be transformed. Generate negatives for them, or pass unserved='pass' to let "
                    "them through unchanged."
                )
            self.unserved = set(missing)
        self.pass_unserved = unserved == "pass"

    def prompt_map(self) -> PromptMap:
        """The prompt map of an online source (what a serialised transform stores)."""
        prompts = getattr(self.source, "prompts", None)
        if not isinstance(prompts, PromptMap):
            raise TypeError(f"A {self.source.kind} source has no prompt map.")
        return prompts

    def read(self, value: Any, what: str = "label") -> int:
        return label_index(value, self.num_classes, what)

    def draw(self, label: int, rng: np.random.Generator) -> dict[str, Any] | None:
        """The draw for a sample of class `label`, or None for a class passed through unserved."""
        if label in self.unserved or (self.pass_unserved and not self.source.serves(label)):
            return None
        return self.source.draw(label, rng)

    def label_out(self, original: Any, draw: dict[str, Any] | None) -> Any:
        """The label a sample leaves with: the object that went in when not applied; the target in its type (hard)
        or a float32 vector (onehot, soft) when applied."""
        if draw is None:
            return original
        if self.label_mode == "hard":
            return like(original, draw["target"])
        return label_vector(
            draw["source_label"], draw["target"], draw["noise_ratio"], self.label_mode, self.num_classes
        )


__all__ = [
    "BANK_COLUMNS",
    "DECODED_CACHE_BYTES",
    "UNSERVED",
    "BankSource",
    "HardNegativeSource",
    "OnlineSource",
    "Resize",
    "TransformCore",
    "as_generator",
    "check_bank_columns",
    "load_bank",
    "make_source",
]
