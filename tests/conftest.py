"""Shared test helpers: the repo's own stack files, read as the program would read them."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
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


def project_copy(tmp_path: Path, stack: str, mutate: Callable[[dict], object] = lambda config: None) -> Path:
    """Our program in a fresh dir, with Pulumi.<stack>.yaml's `config:` passed through `mutate`."""
    project = tmp_path / "project"
    project.mkdir(parents=True)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(REPO / name, project)
    shutil.copytree(REPO / "components", project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    mutate(document["config"])
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return project


def run_preflight(project: Path, stack: str, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """`python -m preflight preview` on `project`, as a user runs it; the JSON document ({} if none)."""
    out = tmp_path / f"{stack}.json"
    argv = [
        "preview",
        "--stack",
        stack,
        "--cwd",
        str(project),
        "--json",
        str(out),
        "--build-dir",
        str(tmp_path / "build"),
        *extra,
    ]
    result = subprocess.run(
        [sys.executable, "-m", "preflight", *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    return result, (json.loads(out.read_text()) if out.exists() else {})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The lab's tests first: they are the longest file, and under pytest-xdist (`make test` runs
    `-n auto --dist loadfile`) a file starts where it comes in this order, so the lab starting last
    would leave one worker running it alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("lab") is None)
