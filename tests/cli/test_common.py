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


@pytest.mark.parametrize("bundled", ["genie-tiny-digits", "genie-tiny-context"])
def test_the_bundled_models_are_refused_on_other_classes(bundled):
    with pytest.raises(UsageError, match=f"--model {bundled} is a small digits model .* nothing else"):
        check_bundled(argparse.Namespace(model=bundled), NAMES)
    with pytest.raises(UsageError, match=f"--embedder {bundled} is a small digits model"):
        check_bundled(argparse.Namespace(model="some/model", embedder=bundled), NAMES)
    check_bundled(
        argparse.Namespace(model=bundled),
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    )
    check_bundled(argparse.Namespace(model="some/model"), NAMES)


LAUNCHER_VARIABLES = (
    "WORLD_SIZE",
    "RANK",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
)


def _launched(monkeypatch, **variables):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, str(value))
    return shard_from_env(None, None)


def test_shards_come_from_the_options_or_the_launcher(monkeypatch):
    assert _launched(monkeypatch) == (1, 0) and shard_from_env(4, 2) == (4, 2)
    assert _launched(monkeypatch, WORLD_SIZE=3, RANK=1) == (3, 1)  # torchrun / accelerate
    assert _launched(monkeypatch, SLURM_ARRAY_TASK_COUNT=5, SLURM_ARRAY_TASK_ID=4, SLURM_ARRAY_TASK_MIN=0) == (5, 4)
    with pytest.raises(UsageError, match=r"--shard-index must be in \[0, 2\)"):
        shard_from_env(2, 2)


def test_every_shard_of_a_slurm_array_runs_whatever_its_first_id(monkeypatch):
    """`--array=1-4`: ids 1 to 4 are shards 0 to 3 (id 4 was refused and shard 0 never ran); with a step too."""
    array = {"SLURM_ARRAY_TASK_COUNT": 4, "SLURM_ARRAY_TASK_MIN": 1}
    shards = [_launched(monkeypatch, **array, SLURM_ARRAY_TASK_ID=i) for i in (1, 2, 3, 4)]
    assert shards == [(4, 0), (4, 1), (4, 2), (4, 3)]
    stepped = {"SLURM_ARRAY_TASK_COUNT": 3, "SLURM_ARRAY_TASK_MIN": 10, "SLURM_ARRAY_TASK_STEP": 5}
    assert [_launched(monkeypatch, **stepped, SLURM_ARRAY_TASK_ID=i)[1] for i in (10, 15, 20)] == [0, 1, 2]
    with pytest.raises(UsageError, match="not one of 3 evenly spaced tasks"):  # --array=1,4,9: not a range
        _launched(monkeypatch, SLURM_ARRAY_TASK_COUNT=3, SLURM_ARRAY_TASK_MIN=1, SLURM_ARRAY_TASK_ID=9)


def test_srun_tasks_and_launchers_inside_an_array_each_get_their_own_shard(monkeypatch):
    """`srun -n 4` gave every task shard (1, 0); torchrun in each array task duplicated one split."""
    assert [_launched(monkeypatch, SLURM_NTASKS=4, SLURM_PROCID=p) for p in range(4)] == [(4, p) for p in range(4)]
    seen = set()
    for task_id in (1, 2, 3):  # --array=1-3, torchrun --nproc-per-node 2 in each task
        for rank in (0, 1):
            array = {"SLURM_ARRAY_TASK_COUNT": 3, "SLURM_ARRAY_TASK_MIN": 1, "SLURM_ARRAY_TASK_ID": task_id}
            seen.add(_launched(monkeypatch, **array, WORLD_SIZE=2, RANK=rank, SLURM_NTASKS=1, SLURM_PROCID=0))
    assert seen == {(6, i) for i in range(6)}  # torchrun's world wins over srun's single task
    array = {"SLURM_ARRAY_TASK_COUNT": 2, "SLURM_ARRAY_TASK_MIN": 0}
    srun_in_array = {
        _launched(monkeypatch, **array, SLURM_ARRAY_TASK_ID=t, SLURM_NTASKS=2, SLURM_PROCID=p)
        for t in (0, 1)
        for p in (0, 1)
    }
    assert srun_in_array == {(4, i) for i in range(4)}
    with pytest.raises(UsageError, match="SLURM_NTASKS='x' is not an integer"):
        _launched(monkeypatch, SLURM_NTASKS="x")


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
