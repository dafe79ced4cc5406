"""Shared test helpers: the repo's own stack files, read as the program would read them."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def stack_values(stack: str) -> dict:
    """The `isp:` keys of Pulumi.<stack>.yaml without the namespace, secrets left out."""
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        key.removeprefix("isp:"): value
        for key, value in config.items()
        if key.startswith("isp:") and not (isinstance(value, dict) and "secure" in value)
    }


@pytest.fixture
def prod_values() -> dict:
    return copy.deepcopy(stack_values("prod"))


@pytest.fixture
def dev_values() -> dict:
    return copy.deepcopy(stack_values("dev"))


def require_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed (make deps installs it)")
    return path


def run_tool(*argv: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=60)
