"""`genie env`: the versions and devices a bug report needs."""

import importlib.metadata

from genie_transforms.cli import main
from genie_transforms.cli.common import PACKAGES, report


def test_env_prints_versions(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "- torch:" in out and "- diffusers:" in out


def test_the_report_names_every_package_that_matters_with_its_installed_version():
    info = report()
    assert set(PACKAGES) <= set(info) and {"python", "platform", "cuda"} <= set(info)
    assert info["torch"] == importlib.metadata.version("torch")
    assert info["cuda"] == "not available" or info["cuda"]
