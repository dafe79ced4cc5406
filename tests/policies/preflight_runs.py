"""Helpers for running the pack end to end through preflight: the hand-written program, copies of
our prod stack, and reading the violations preflight reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.conftest import REPO, project_copy, run_preflight

HANDMADE = Path(__file__).parent / "programs" / "handmade"


def preflight(project: Path, stack: str, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    result, document = run_preflight(project, stack, tmp_path, "--policy-pack", str(REPO / "policies"), *extra)
    return result.returncode, document, result.stdout + result.stderr


def handmade(tmp_path: Path, stack: str, broken: list[str]) -> Path:
    project = tmp_path / "handmade"
    shutil.copytree(HANDMADE, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"handmade:broken": json.dumps(broken)}}))
    return project


def violations_of(document: dict, policy: str) -> list[dict]:
    return [v for v in document.get("violations", []) if v["policy"] == policy]


def prod_copy(tmp_path: Path, mutate, stack: str = "prod") -> Path:
    return project_copy(tmp_path, stack, mutate)


def host_config(config: dict, name: str) -> dict:
    return next(h for h in config["isp:hosts"] if h["name"] == name)
