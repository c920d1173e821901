"""Loading an image-to-image pipeline from the Hub, a local folder, or a model bundled with the package.

What to load is a [`ModelSpec`] (plain values, so it pickles and serialises); [`load_img2img_pipeline`] is the one
place that turns it into a diffusers pipeline. A model is known by its id and a *revision* that names its
content: the Hub commit for a downloaded model, and `sha256:<digest>` of its files for a local folder or the
bundled model (so replaced weights are a different model).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .digits.assets import CONTEXT_MODEL_DIR, MODEL_DIR
from .settings import DTYPES, OFFLOAD

logger = logging.getLogger(__name__)

BUNDLED_MODELS: dict[str, Path] = {"genie-tiny-digits": MODEL_DIR, "genie-tiny-context": CONTEXT_MODEL_DIR}
"""Reserved model names that resolve to folders shipped inside the package (never looked up on the Hub)."""
METADATA_FILE = "genie.json"
"""A model folder may declare how it wants to be prompted: `{"prompt_template": "a photo of the digit {}."}`."""
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".json", ".txt", ".model")


@dataclass(frozen=True)
class LoraWeights:
    """LoRA weights to load into the UNet (and text encoder) of a pipeline, at `scale`.

    Args:
        source (`str`): a `.safetensors` file, a folder holding one, or a Hub id (`org/name`, or
            `org/name/file.safetensors` for a named file).
        scale (`float`, defaults to 1.0): the adapter's weight.
        revision (`str`, *optional*): Hub revision of `source`.
    """

    source: str
    scale: float = 1.0
    revision: str | None = None

    @classmethod
    def parse(cls, spec: str) -> LoraWeights:
        """`SOURCE` or `SOURCE:SCALE` (the command line's form)."""
        source, sep, scale = spec.rpartition(":")
        if sep and source and _is_float(scale):
            return cls(source, float(scale))
        return cls(spec)


@dataclass(frozen=True)
class TextualInversion:
    """A learned token embedding (textual inversion, as DA-Fusion learns one per class) for the text encoder.

    Args:
        source (`str`): a `.safetensors` file, a folder holding one, or a Hub id (as for [`LoraWeights`]).
        token (`str`, *optional*): the token to bind it to (e.g. `"<tabby>"`); the file's own by default.
        revision (`str`, *optional*): Hub revision of `source`.
    """

    source: str
    token: str | None = None
    revision: str | None = None

    @classmethod
    def parse(cls, spec: str) -> TextualInversion:
        """`SOURCE` or `SOURCE:TOKEN` (the command line's form); a token looks like `<name>`."""
        source, sep, token = spec.rpartition(":")
        if sep and source and token.startswith("<") and token.endswith(">"):
            return cls(source, token)
        return cls(spec)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ModelSpec:
    """Everything that says which weights a generator runs, as plain values (it pickles and serialises)."""

    model: str
    revision: str | None = None
    device: str | None = None
    dtype: str | None = None
    variant: str | None = None
    offload: str | None = None
    allow_pickle_weights: bool = False
    loras: tuple[LoraWeights, ...] = ()
    textual_inversions: tuple[TextualInversion, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"The model must be a Hub id or a folder path, got {self.model!r}.")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"`dtype` must be one of {DTYPES} (or a torch dtype), got {self.dtype!r}.")
        if self.offload is not None and self.offload not in OFFLOAD:
            raise ValueError(f"`offload` must be None, 'model' or 'sequential', got {self.offload!r}.")
        if self.variant is not None and (not isinstance(self.variant, str) or not self.variant.isidentifier()):
            raise ValueError(f"`variant` must be a weights variant name such as 'fp16', got {self.variant!r}.")
        for lora in self.loras:
            if not isinstance(lora, LoraWeights):
                raise TypeError(f"`lora` entries must be LoraWeights or 'SOURCE[:SCALE]' strings, got {lora!r}.")
        for ti in self.textual_inversions:
            if not isinstance(ti, TextualInversion):
                raise TypeError(f"`textual_inversion` entries must be TextualInversion or strings, got {ti!r}.")

    def resolved_device(self) -> str:
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def resolved_dtype(self) -> str:
        """float16 on CUDA (as the paper), float32 elsewhere, unless given."""
        return self.dtype or ("float16" if self.resolved_device().startswith("cuda") else "float32")

    def to_dict(self) -> dict[str, Any]:
        """JSON-native (lists, not tuples), so that a dict read back from JSON (`A.save` / `A.load`) is equal."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        data = dict(data)
        data["loras"] = tuple(LoraWeights(**x) for x in data.get("loras", ()))
        data["textual_inversions"] = tuple(TextualInversion(**x) for x in data.get("textual_inversions", ()))
        return cls(**data)


def dtype_name(dtype: Any) -> str | None:
    """`torch.float16` or `"float16"` -> `"float16"`; None stays None."""
    if dtype is None:
        return None
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"`dtype` must be one of {DTYPES}, got {dtype!r}.")
    return name


def make_spec(
    model: str | Path,
    *,
    revision: str | None = None,
    device: Any = None,
    dtype: Any = None,
    variant: str | None = None,
    offload: str | None = None,
    allow_pickle_weights: bool = False,
    lora: Any = None,
    textual_inversion: Any = None,
) -> ModelSpec:
    """A [`ModelSpec`] from user-facing arguments: a torch dtype or its name, one or a list of `LoraWeights` /
    `"SOURCE[:SCALE]"` strings, one or a list of `TextualInversion` / `"SOURCE[:TOKEN]"` strings."""
    if not isinstance(model, (str, Path)) or not str(model):
        raise TypeError(f"`model_id_or_path` must be a Hub id or a folder path, got {model!r}.")
    loras = () if lora is None else (lora,) if isinstance(lora, (str, LoraWeights)) else tuple(lora)
    tis = (
        ()
        if textual_inversion is None
        else (
            (textual_inversion,) if isinstance(textual_inversion, (str, TextualInversion)) else tuple(textual_inversion)
        )
    )
    return ModelSpec(
        model=str(model),
        revision=revision,
        device=None if device is None else str(device),
        dtype=dtype_name(dtype),
        variant=variant,
        offload=offload,
        allow_pickle_weights=bool(allow_pickle_weights),
        loras=tuple(LoraWeights.parse(x) if isinstance(x, str) else x for x in loras),
        textual_inversions=tuple(TextualInversion.parse(x) if isinstance(x, str) else x for x in tis),
    )


# ------------------------------------------------------------------------------------------------ identity
def file_digest(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _cached_identity(files: tuple[tuple[str, str, int, int, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for rel, real, size, *_ in files:
        digest.update(f"{rel}\0{size}\0{file_digest(Path(real))}\n".encode())
    return f"sha256:{digest.hexdigest()[:16]}"


def _stat_key(rel: str, path: Path) -> tuple[str, str, int, int, int, int, int]:
    """What says a file is unchanged: its real path (through symlinks), size, times, inode and device; a file
    swapped in, or a symlink pointed elsewhere, changes it even with the same size and modification time."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return (rel, real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def model_files(path: Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every file loading may read from a model folder (weights, configurations,
    tokenizers), through symlinked files and folders, each real folder once; hidden files are left out."""
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for root, dirs, names in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            file = Path(root) / name
            if not name.startswith(".") and file.suffix in _WEIGHT_SUFFIXES and file.is_file():
                found.append((file.relative_to(path).as_posix(), file))
    return sorted(found)


def content_identity(path: str | Path) -> str:
    """`sha256:<16 hex>` over the weight and configuration files of a folder (or one file), symlinked component
    folders included: their relative paths, sizes and SHA-256 digests. Replacing any weights changes it. Computed
    once per process for unchanged files."""
    path = Path(path)
    files = [(path.name, path)] if path.is_file() else model_files(path)
    return _cached_identity(tuple(_stat_key(rel, p) for rel, p in files))


def weights_identity(owner: Any) -> str:
    """`weights:sha256:<16 hex>` over every weight and buffer (names, dtypes, shapes and bytes) of a pipeline's
    models or of one `torch.nn.Module`: the identity of weights held in memory. Recomputed only when a tensor was
    replaced or changed in place."""
    import torch

    modules = {"": owner} if isinstance(owner, torch.nn.Module) else owner.components
    tensors = [
        (f"{component}.{name}", t)
        for component, module in sorted(modules.items())
        if isinstance(module, torch.nn.Module)
        for name, t in [*module.named_parameters(), *module.named_buffers()]
    ]
    key = tuple(  # inference tensors keep no version counter: their storage stands for them
        (name, t.data_ptr(), -1 if t.is_inference() else t._version, str(t.dtype), tuple(t.shape))
        for name, t in tensors
    )
    cached = _WEIGHT_IDENTITIES.get(owner)
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256()
    for name, t in tensors:
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    identity = f"weights:sha256:{digest.hexdigest()[:16]}"
    _WEIGHT_IDENTITIES[owner] = (key, identity)
    return identity


_WEIGHT_IDENTITIES: weakref.WeakKeyDictionary[Any, tuple[tuple, str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are, the revision to record, and what its folder declares (`genie.json`)."""

    folder: Path
    revision: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_template(self) -> str | None:
        return self.metadata.get("prompt_template")


def read_metadata(folder: Path) -> dict[str, Any]:
    """The model folder's `genie.json` (an empty dict when there is none)."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); fix or delete it.") from None
    if data.get("prompt_template") is not None:
        from .prompts import check_template

        check_template(data["prompt_template"], f"{path}: `prompt_template`")
    return data


def _hub_metadata(model: str, commit: str | None) -> dict[str, Any]:
    """`genie.json` of a Hub model, when the repository has one (fetched alone; missing is fine)."""
    from huggingface_hub import hf_hub_download

    try:
        return read_metadata(Path(hf_hub_download(model, METADATA_FILE, revision=commit)).parent)
    except Exception:  # no such file, or offline and not cached: the model declares nothing
        return {}


def resolve_model(spec: ModelSpec) -> ResolvedModel:
    """The local folder of `spec.model` (downloading only the files a GeNIe pipeline loads), its revision to
    record (the Hub commit, else the content identity of the folder, bundled models included), and its metadata.
    Nothing is loaded into memory."""
    model = spec.model
    if model in BUNDLED_MODELS:
        folder = BUNDLED_MODELS[model]
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(
                f"The bundled model {model!r} is missing from {folder}; reinstall genie-transforms."
            )
        return ResolvedModel(folder, content_identity(folder), read_metadata(folder))
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(
                f"{path} has no model_index.json; give a folder saved with a pipeline's `save_pretrained`."
            )
        return ResolvedModel(path, content_identity(path), read_metadata(path))
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ValueError(f"{model!r} is not a model folder (no such directory) and not a Hub id like 'org/name'.")
    from diffusers import DiffusionPipeline

    try:
        folder = Path(
            DiffusionPipeline.download(
                model,
                revision=spec.revision,
                variant=spec.variant,
                use_safetensors=_use_safetensors(spec),
                safety_checker=None,
                feature_extractor=None,  # not loaded: their files are not downloaded
            )
        )
    except Exception as err:  # network, auth, offline mode, missing safetensors: say which model and what to do
        raise OSError(
            f"Could not get {model!r} (revision {spec.revision or 'main'}) from the Hugging Face Hub: {err}. Check the "
            "id and your network; offline (HF_HUB_OFFLINE=1) only models already in the cache or local folders load."
        ) from err
    commit = folder.name if folder.parent.name == "snapshots" else spec.revision
    return ResolvedModel(folder, commit, _hub_metadata(model, commit))


def _use_safetensors(spec: ModelSpec) -> bool | None:
    """True: safetensors only. None: prefer safetensors, fall back to pickled weights (opt-in)."""
    return None if spec.allow_pickle_weights else True


# ------------------------------------------------------------------------------------------------ adapters
def _adapter_file(source: str, revision: str | None, default_name: str) -> tuple[Path, str, str | None]:
    """(local file, identity to record, weight name) of a LoRA / textual-inversion source; safetensors only."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise ValueError(f"{path} must hold exactly one .safetensors file, found {[f.name for f in files]}.")
        path = files[0]
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ValueError(f"{path} is not a .safetensors file; adapters load from safetensors only.")
        return path, content_identity(path), path.name
    if path.exists() or source.startswith((".", "/", "~")):
        raise ValueError(f"Adapter {source!r}: no such file or folder.")
    parts = source.split("/")
    repo, name = ("/".join(parts[:2]), "/".join(parts[2:])) if len(parts) > 2 else (source, default_name)
    if not name.endswith(".safetensors"):
        raise ValueError(f"Adapter {source!r}: give a .safetensors file (org/name/file.safetensors).")
    from huggingface_hub import hf_hub_download

    try:
        file = Path(hf_hub_download(repo, name, revision=revision))
    except Exception as err:
        raise OSError(f"Could not get adapter {source!r} from the Hugging Face Hub: {err}") from err
    commit = file.parent.name if file.parent.parent.name == "snapshots" else revision
    return file, f"{repo}@{commit}", name


def adapter_records(spec: ModelSpec) -> tuple[dict[str, Any], ...]:
    """What provenance says of each adapter: kind, source, identity (file hash or Hub commit), scale or token."""
    records = []
    for lora in spec.loras:
        _, identity, _ = _adapter_file(lora.source, lora.revision, "pytorch_lora_weights.safetensors")
        records.append({"kind": "lora", "source": lora.source, "identity": identity, "scale": lora.scale})
    for ti in spec.textual_inversions:
        _, identity, _ = _adapter_file(ti.source, ti.revision, "learned_embeds.safetensors")
        records.append({"kind": "textual_inversion", "source": ti.source, "identity": identity, "token": ti.token})
    return tuple(records)


def _load_adapters(pipe: Any, spec: ModelSpec) -> None:
    if spec.loras:
        try:
            import peft  # noqa: F401
        except ImportError:
            raise ImportError('LoRA weights need peft: pip install "genie-transforms[lora]"') from None
        names = []
        for i, lora in enumerate(spec.loras):
            file, _, _ = _adapter_file(lora.source, lora.revision, "pytorch_lora_weights.safetensors")
            names.append(f"genie_lora_{i}")
            pipe.load_lora_weights(
                str(file.parent), weight_name=file.name, adapter_name=names[-1], use_safetensors=True
            )
        pipe.set_adapters(names, adapter_weights=[lora.scale for lora in spec.loras])
    for ti in spec.textual_inversions:
        file, _, _ = _adapter_file(ti.source, ti.revision, "learned_embeds.safetensors")
        pipe.load_textual_inversion(str(file.parent), weight_name=file.name, token=ti.token, use_safetensors=True)


class PipelineSlot:
    """The one door to the lazily loaded weights, shared by a generator and those derived from it
    ([`GenieGenerator.with_settings`]): it resolves the model without loading it, loads it once, and serialises
    as configuration (a spec) or as the caller's own pipeline."""

    def __init__(self, spec: ModelSpec | None = None, pipe: Any = None) -> None:
        self.spec, self.source = spec, pipe
        self.pipe: Any = pipe
        self.resolved: ResolvedModel | None = None
        self.adapters: tuple[dict[str, Any], ...] | None = None if spec is not None else ()
        self.lock = threading.RLock()  # one call at a time on the shared pipeline and scheduler

    def resolve(self) -> ResolvedModel | None:
        if self.spec is not None and self.resolved is None:
            self.resolved = resolve_model(self.spec)
        return self.resolved

    def adapter_records(self) -> tuple[dict[str, Any], ...]:
        if self.adapters is None:
            self.adapters = () if self.spec is None else adapter_records(self.spec)
        return self.adapters

    def get(self) -> Any:
        with self.lock:
            if self.pipe is None:
                assert self.spec is not None  # a slot without a spec holds the caller's pipeline
                self.pipe, self.resolved = load_img2img_pipeline(self.spec)
            return self.pipe

    def __getstate__(self) -> dict[str, Any]:
        state = {"spec": self.spec, "source": self.source, "resolved": self.resolved, "adapters": self.adapters}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        PipelineSlot.__init__(self, state["spec"], state["source"])
        self.resolved, self.adapters = state["resolved"], state["adapters"]


# ------------------------------------------------------------------------------------------------ loading
def dtype_keyword() -> str:
    """diffusers reads `dtype` from 0.40 on and `torch_dtype` before (where `dtype` is silently ignored)."""
    from diffusers import __version__ as diffusers_version
    from packaging.version import Version

    return "dtype" if Version(diffusers_version) >= Version("0.40.0.dev0") else "torch_dtype"


LOADING_BARS_ENV = "GENIE_LOADING_BARS"
"""Set to 1 to see diffusers' and transformers' own loading bars ("Loading pipeline components"); `genie --verbose`
sets it."""


@contextmanager
def quiet_loading_bars() -> Iterator[None]:
    """diffusers' and transformers' component-loading bars stay off while the engine loads a model (they would appear
    inside the caller's own progress bar), then are restored as they were; `GENIE_LOADING_BARS=1` keeps them.
    Download bars (huggingface_hub's) are not touched."""
    if os.environ.get(LOADING_BARS_ENV) == "1":
        yield
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = [(module, module.is_progress_bar_enabled()) for module in (diffusers_logging, transformers_logging)]
    for module, _ in was:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module, enabled in was:
            if enabled:
                module.enable_progress_bar()


def load_img2img_pipeline(spec: ModelSpec) -> tuple[Any, ResolvedModel]:
    """Load `spec` as a diffusers image-to-image pipeline, placed (or offloaded) on its device.

    Weights load from safetensors only unless `allow_pickle_weights`; no remote code is ever run; the safety
    checker is neither downloaded nor loaded (a triggered checker returns black images).
    """
    import torch
    from diffusers import AutoPipelineForImage2Image

    resolved = resolve_model(spec)
    device, dtype = spec.resolved_device(), getattr(torch, spec.resolved_dtype())
    if spec.offload and not torch.cuda.is_available():
        raise ValueError(
            f"offload={spec.offload!r} moves the weights between the CPU and a GPU, but no CUDA GPU is available; "
            "leave offload unset on a CPU-only machine."
        )
    extra: dict[str, Any] = {dtype_keyword(): dtype}
    index = json.loads((resolved.folder / "model_index.json").read_text())
    if "safety_checker" in index:  # the checker and its image processor are neither downloaded nor loaded
        extra.update(safety_checker=None, requires_safety_checker=False)
    if "feature_extractor" in index:
        extra["feature_extractor"] = None
    for name, value in index.items():  # components saved as absent (SD3 without its T5 encoder) stay absent
        if isinstance(value, list) and value and value[0] is None:
            extra.setdefault(name, None)
    if spec.variant is not None:
        extra["variant"] = spec.variant
    try:
        with quiet_loading_bars():
            pipe = AutoPipelineForImage2Image.from_pretrained(
                resolved.folder, use_safetensors=_use_safetensors(spec), **extra
            )
    except (OSError, ValueError) as err:
        if not spec.allow_pickle_weights and "safetensors" in str(err):
            raise ValueError(
                f"{spec.model!r} has no safetensors weights, and pickled weights (.bin/.ckpt) can run code when "
                "loaded. Convert the model to safetensors, or pass allow_pickle_weights=True if you trust its source."
            ) from err
        raise
    denoiser = pipe.transformer if "transformer" in pipe.components else pipe.unet
    if denoiser.dtype != dtype:  # a diffusers that ignored the dtype keyword: never silently run in float32
        pipe.to(dtype=dtype)
    _load_adapters(pipe, spec)
    if spec.offload:
        try:
            import accelerate  # noqa: F401
        except ImportError:
            raise ImportError('offload needs accelerate: pip install "genie-transforms[offload]"') from None
        enable = pipe.enable_model_cpu_offload if spec.offload == "model" else pipe.enable_sequential_cpu_offload
        enable(device=device)
    else:
        pipe.to(device)
    return pipe, resolved


__all__ = [
    "BUNDLED_MODELS",
    "LOADING_BARS_ENV",
    "METADATA_FILE",
    "LoraWeights",
    "ModelSpec",
    "PipelineSlot",
    "ResolvedModel",
    "TextualInversion",
    "adapter_records",
    "content_identity",
    "dtype_keyword",
    "dtype_name",
    "file_digest",
    "load_img2img_pipeline",
    "make_spec",
    "model_files",
    "quiet_loading_bars",
    "read_metadata",
    "resolve_model",
    "weights_identity",
]
