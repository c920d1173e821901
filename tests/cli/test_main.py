import argparse

import pytest

from genie_transforms import __version__
from genie_transforms.cli import build_parser, env, main


def test_bad_arguments_give_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--pairs", "0"]) == 2
    assert "--pairs must be >= 1" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--model", "org/sd"]) == 2
    assert "need --dataset" in capsys.readouterr().err


def test_help_and_version_do_not_load_torch(capsys):
    import subprocess
    import sys

    probe = "import sys, genie_transforms.cli; genie_transforms.cli.build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out
    result = subprocess.run([sys.executable, "-m", "genie_transforms", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and __version__ in result.stdout


def test_every_option_has_help_and_shows_its_default(capsys):
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"genie {name} {action.option_strings} has no help text"
        with pytest.raises(SystemExit):
            command.parse_args(["--help"])
        text = capsys.readouterr().out
        assert "--help" in text
        if name in ("generate", "ada", "demo"):
            assert "(default: 0)" in text.replace("\n", " ").replace("  ", " ") or "default: 0" in text
    generate = commands["generate"].format_help()
    assert "{dpmsolver++,ddim,euler,lcm,pipeline}" in generate and "(default: ['all_others'])" not in generate
    assert "all_others (every other class" in generate and "random_k:1 instead" in generate


def test_exit_status_usage_runtime_and_bugs(tmp_path, capsys, monkeypatch, saved_source):
    source = saved_source(4)
    with pytest.raises(SystemExit) as info:  # --model is required: argparse's usage error
        main(["generate", "--dataset", str(source), "--output", str(tmp_path / "a")])
    assert info.value.code == 2 and "--model" in capsys.readouterr().err
    # the bundled digits model on a cat/dog/car/boat dataset: refused, not 'blurry digits labelled cat'
    assert (
        main(["generate", "--dataset", str(source), "--model", "genie-tiny-digits", "--output", str(tmp_path / "b")])
        == 2
    )
    err = capsys.readouterr().err
    assert "draws the digits zero to nine and nothing else" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
    assert (
        main(["generate", "--dataset", str(tmp_path / "missing"), "--model", "x/y", "--output", str(tmp_path / "c")])
        == 1
    )

    def bug(args):
        raise TypeError("a bug in genie-transforms")

    monkeypatch.setattr(env, "run", bug)  # a bug surfaces with its traceback, never as a usage error
    with pytest.raises(TypeError, match="a bug"):
        main(["env"])


@pytest.mark.slow
def test_the_console_shows_only_our_progress_and_results(tmp_path, saved_source, tiny_model_path):
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "genie_transforms",
        "generate",
        "--dataset",
        str(saved_source(4)),
        "--model",
        str(tiny_model_path),
        "--steps",
        "2",
        "--noise-ratio",
        "1.0",
        "--strategy",
        "random_k:1",
        "--output",
        str(tmp_path / "job"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "merged into" in result.stdout and "shard 0/1" in result.stderr  # our results and our progress bar
    for noise in ("Loading", "\x1b[A", "Warning", "warn(", "```", "Map:", "Generating train split"):
        assert noise not in result.stderr, noise


def test_help_shows_each_default_once_and_none_on_required_options():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        text = " ".join(command.format_help().split())
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for action in command._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            shown = " ".join(command._get_formatter()._expand_help(action).split())
            assert shown.count("default") <= 1, (name, action.option_strings, shown)
            if action.required:
                assert "default" not in shown, (name, action.option_strings, shown)
    demo = " ".join(commands["demo"].format_help().split())
    assert "(default here: 20; the paper uses 50)" in demo and "else 50" not in demo  # the demo's own default


def test_every_command_that_writes_names_its_output_dash_dash_output(tmp_path):
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in ("demo", "generate", "ada", "publish", "bench"):
        options = {s for a in commands[name]._actions for s in a.option_strings}
        assert "--output" in options, name
    # the old spellings still work, as aliases of --output
    assert parser.parse_args(["demo", "--out", str(tmp_path)]).output == tmp_path
    assert parser.parse_args(["bench", "--json", str(tmp_path / "b.json")]).output == tmp_path / "b.json"
