"""How a policy pack is started: its PulumiPolicy.yaml, its interpreter and its environment.

The CLI runs a Python pack through the Python language host's RunPlugin (pulumi/pulumi
sdk/python/cmd/pulumi-language-python/main.go): `<python> -u -m pulumi.policy <engine> <packDir>` in
the pack directory, <python> chosen by the runtime options of PulumiPolicy.yaml (see packtoolchain);
the environment carries what RunPlugin adds (the stack's project, name, config...) and the virtualenv
activated as sdk/python/toolchain/toolchain.go's ActivateVirtualEnv does it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .stackconfig import MAX_ENVIRONMENT_VARIABLE_BYTES
from .verdicts import PackError


@dataclass(frozen=True)
class PackProject:
    """What PulumiPolicy.yaml says about a pack."""

    directory: Path
    runtime: str
    runtime_options: dict
    version: str = ""
    description: str = ""


def read_pack_project(pack_dir: Path) -> PackProject:
    project_file = pack_dir / "PulumiPolicy.yaml"
    try:
        document = yaml.safe_load(project_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PackError(f"Policy pack {pack_dir} cannot be loaded: {project_file} is unreadable ({error}).") from None
    if not isinstance(document, dict):
        raise PackError(f"Policy pack {pack_dir} cannot be loaded: {project_file} is not a YAML mapping.")
    runtime = document.get("runtime")
    options: dict = {}
    if isinstance(runtime, dict):
        options = runtime.get("options") or {}
        runtime = runtime.get("name")
    if runtime != "python":
        raise PackError(
            f"Policy pack {pack_dir} has runtime {runtime!r}; preflight runs Python packs only (runtime: python)."
        )
    version = document.get("version")
    return PackProject(
        directory=pack_dir,
        runtime=runtime,
        runtime_options=options,
        version="" if version is None else str(version),
        description=str(document.get("description") or ""),
    )


def pack_environment(
    base: dict[str, str],
    *,
    project: str,
    stack: str,
    organization: str,
    config: dict[str, str],
    secret_keys: list[str],
    dry_run: bool,
    venv_dir: Path | None,
) -> dict[str, str]:
    """The pack's environment: ours plus what the CLI's constructEnv adds (empty values are left out)."""
    env = dict(base)
    settings = {
        "PULUMI_CONFIG": json.dumps(config) if config else "",
        # Not set by the CLI (it sends them in ConfigureStack), but harmless and useful to pulumi.Config.
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(secret_keys)) if secret_keys else "",
        "PULUMI_ORGANIZATION": organization,
        "PULUMI_PROJECT": project,
        "PULUMI_STACK": stack,
        "PULUMI_DRY_RUN": "true" if dry_run else "false",
    }
    for name, value in settings.items():
        env.pop(name, None)
        if value:
            env[name] = value
    if venv_dir is not None:
        env["PATH"] = os.pathsep.join(filter(None, [str(venv_dir / "bin"), env.get("PATH", "")]))
        env.pop("PYTHONHOME", None)
        env["VIRTUAL_ENV"] = str(venv_dir)
    return env


def fits_in_environment(name: str, value: str) -> bool:
    """Whether NAME=value can be passed to a new process (exec fails with E2BIG otherwise)."""
    return len(name.encode()) + 1 + len(value.encode()) + 1 <= MAX_ENVIRONMENT_VARIABLE_BYTES

