"""What the commands share (`genie_transforms.cli.common`): reading a source split, shards from launchers, checks."""

import argparse

import pytest

from genie_transforms.cli import build_parser
from genie_transforms.cli.common import (
    UsageError,
    check_bundled,
    positive_int,
    read_source,
    rows_per_call,
    shard_from_env,
)

from ..helpers import NAMES, generate_args


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_read_source_loads_checks_and_names_the_split(saved_source, tiny_model_path, tiny_generator, tmp_path):
    path = saved_source(5)
    args = parse(*generate_args(path, tiny_model_path, tmp_path / "out", "--limit", "3"))
    source = read_source(args, tiny_generator)
    assert source.num_rows == len(source.ds) == 3 and len(source.full) == 5 and source.names == NAMES
    assert source.prompts.prompt(1) == "a photo of a dog."
    assert source.identity["dataset"] == str(path) and source.identity["fingerprint"] == source.full._fingerprint
    names = tmp_path / "names.txt"
    names.write_text("tabby cat\nretriever\n")
    wrong = parse(*generate_args(path, tiny_model_path, tmp_path / "out", "--class-names", str(names)))
    with pytest.raises(UsageError, match="has 2 names, but 'label' has 4 classes"):
        read_source(wrong, tiny_generator)
    missing = parse(*generate_args(path, tiny_model_path, tmp_path / "out", "--label-column", "class"))
    with pytest.raises(ValueError, match="class"):
        read_source(missing, tiny_generator)


def test_the_bundled_model_is_refused_on_other_classes():
    with pytest.raises(UsageError, match="draws the digits zero to nine and nothing else"):
        check_bundled(argparse.Namespace(model="genie-tiny-digits"), NAMES)
    check_bundled(
        argparse.Namespace(model="genie-tiny-digits"),
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    )
    check_bundled(argparse.Namespace(model="some/model"), NAMES)


def test_shards_come_from_the_options_or_the_launcher(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert shard_from_env(None, None) == (1, 0) and shard_from_env(4, 2) == (4, 2)
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "1")
    assert shard_from_env(None, None) == (3, 1)  # torchrun / accelerate
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert shard_from_env(None, None) == (5, 4)  # a Slurm array
    with pytest.raises(UsageError, match=r"--shard-index must be in \[0, 2\)"):
        shard_from_env(2, 2)


def test_small_parsers():
    assert positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="must be an int >= 1, got 0"):
        positive_int("0")
    assert rows_per_call(8, 3) == 3 and rows_per_call(8, 0) == 8 and rows_per_call(1, 5) == 1


def test_a_split_slice_is_refused_before_any_work(tmp_path, capsys):
    from genie_transforms.cli import main

    for command in ("generate", "ada"):
        with pytest.raises(SystemExit):
            main([command, "--dataset", "d", "--model", "m", "--output", str(tmp_path / "o"), "--split", "train[:8]"])
        assert "--split takes a split name" in capsys.readouterr().err and not (tmp_path / "o").exists()
