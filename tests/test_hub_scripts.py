"""The scripts under hub_scripts/, run as a user runs them."""

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset, load_from_disk

from genie_transforms.digits import digits_oracle, downsample

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_build_script_gives_correctly_labelled_negatives_and_a_reproducing_noise_table(tmp_path, monkeypatch):
    """The offline build of the README (fewer rows and the fast preset's 20 steps, to stay quick): the genie config
    reads as its target (the model's prompt template is used), and the noise table regenerates the Ada images."""
    from genie_transforms import GenieGenerator
    from genie_transforms.hub import load_noise_table, regenerate_ada_images

    work = tmp_path / "digits-genie"
    monkeypatch.setattr(
        sys, "argv", ["build_genie_dataset.py", "--work", str(work), "--limit", "20", "--steps", "20", "--no-progress"]
    )
    runpy.run_path(str(ROOT / "hub_scripts" / "build_genie_dataset.py"), run_name="__main__")  # exits only on failure
    repo = work / "repo"
    oracle = digits_oracle()
    reads = {}
    for config in ("genie", "genie_ada"):
        ds = load_dataset(str(repo), config, split="train")
        predicted = oracle.predict(downsample(np.stack([np.asarray(im.convert("RGB")) for im in ds["image"]])))
        reads[config] = float(np.mean(predicted == np.asarray(ds["label"])))
        assert set(ds["prompt_template"]) == {"a photo of the digit {}."}
    assert reads["genie"] >= 0.95, reads
    assert reads["genie_ada"] >= 0.8, reads  # Ada picks r = 0.6-0.7 on this model, where fewer images flip
    card = (repo / "README.md").read_text()
    assert "a photo of the digit {}." in card and "UCI Machine Learning Repository" in card
    source = load_from_disk(str(work / "source-digits-train"))
    gen = GenieGenerator.from_pretrained("genie-tiny-digits", num_inference_steps=20, progress=False)
    again = regenerate_ada_images(gen, source, load_noise_table(repo))
    published = load_dataset(str(repo), "genie_ada", split="train")["image"]
    for a, b in zip(published, again.images):
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 2


@pytest.mark.slow
def test_the_context_training_script_writes_a_loadable_model_and_backbone(tmp_path, monkeypatch):
    """A few steps of `train_tiny_context.py`: the model loads as a GenieGenerator and makes an image, the backbone
    loads with its digit head, and the settings are recorded."""
    import json

    from genie_transforms import GenieGenerator
    from genie_transforms.digits import digits_prompt_map, load_context_digits, load_digits_backbone

    monkeypatch.setattr(sys, "argv", ["train_tiny_context.py", "--quick", "--out", str(tmp_path)])
    runpy.run_path(str(ROOT / "hub_scripts" / "train_tiny_context.py"), run_name="__main__")
    training = json.loads((tmp_path / "genie-tiny-context" / "training.json").read_text())
    assert training["renders"] == 1 and training["contexts"][0] == "plain" and training["train_images"] == 1258
    gen = GenieGenerator.from_pretrained(tmp_path / "genie-tiny-context", num_inference_steps=2, progress=False)
    out = gen.generate(
        [load_context_digits("heldout")[0]["image"]], targets=[3], noise_ratio=0.8, prompts=digits_prompt_map(), seed=0
    )
    assert out.images[0].size == (32, 32) and out.records[0].prompt == "a photo of the digit three."
    assert load_digits_backbone(tmp_path / "context-backbone").num_classes == 5
    log = (tmp_path / "genie-tiny-context" / "training_log.txt").read_text().splitlines()
    assert [line.split(" elapsed ")[0] for line in log] == [
        f"{part} step {n}/3" for part in ("VAE", "UNet", "backbone") for n in (0, 3)
    ]
    assert all(np.isfinite(float(line.rsplit(" loss ", 1)[1])) for line in log)


def test_the_training_log_keeps_the_first_every_hundredth_and_last_step(tmp_path):
    """The loss log the training scripts write: 250 steps give steps 0, 100, 200 and 250, in the committed format."""
    from tqdm.auto import tqdm

    loss_log = runpy.run_path(str(ROOT / "hub_scripts" / "train_tiny_digits.py"))["LossLog"]()
    for i in (bar := tqdm(range(250), desc="UNet")):
        loss_log.record(bar, i, 1.0 / (i + 1))
    loss_log.write(tmp_path)
    lines = (tmp_path / "training_log.txt").read_text().splitlines()
    assert [line.split(" elapsed ")[0] for line in lines] == [f"UNet step {n}/250" for n in (0, 100, 200, 250)]
    assert lines[1].endswith(f"loss {1 / 101:.4f}") and lines[-1].endswith(f"loss {1 / 250:.4f}")


def _weight_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.safetensors"))}


@pytest.mark.slow
def test_the_context_training_script_reproduces_its_weights_byte_for_byte(tmp_path, monkeypatch):
    """The recipe regenerates what it says: two runs with the same seed write identical weight files (model and
    backbone), and another seed does not."""
    script = str(ROOT / "hub_scripts" / "train_tiny_context.py")
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        monkeypatch.setattr(
            sys, "argv", ["train_tiny_context.py", "--quick", "--seed", seed, "--out", str(tmp_path / name)]
        )
        runpy.run_path(script, run_name="__main__")
    a, b, c = (_weight_files(tmp_path / name) for name in "abc")
    assert {k.split("/")[-2] for k in a} == {"context-backbone", "text_encoder", "unet", "vae"} and a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a if "unet" in k or "vae" in k)


@pytest.mark.parametrize("model", ["genie-tiny-digits", "genie-tiny-context"])
def test_a_shipped_model_was_trained_with_its_scripts_defaults(model):
    """`training.json` beside the shipped weights records its script's own defaults, so the script without
    arguments is the shipped model's recipe."""
    import json

    from genie_transforms.digits.assets import ASSETS

    script = ROOT / "hub_scripts" / f"train_{model.removeprefix('genie-').replace('-', '_')}.py"
    parser = runpy.run_path(str(script))["build_parser"]()
    defaults = {k: v for k, v in vars(parser.parse_args([])).items() if k not in ("out", "quick")}
    recorded = json.loads((ASSETS / model / "training.json").read_text())
    assert {k: recorded[k] for k in defaults} == defaults
