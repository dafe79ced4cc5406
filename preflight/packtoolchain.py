"""Which Python interpreter runs a policy pack, per its PulumiPolicy.yaml runtime options.

As the Python language host's RunPlugin chooses it (pulumi/pulumi
sdk/python/cmd/pulumi-language-python/main.go, parseOptions; sdk/python/toolchain/toolchain.go,
ResolveToolchain): `toolchain: pip|uv|poetry`, or none, which means uv when a `uv.lock` is found
in the pack directory or above it, poetry for a `poetry.lock`, pip otherwise; `virtualenv`.
- pip (pip.go): `<virtualenv>/bin/python`, the virtualenv relative to the pack directory.
- uv (uv.go): `uv` must be on PATH (at least 0.4.26); the virtualenv is the `virtualenv` option, else
  $UV_PROJECT_ENVIRONMENT or `.venv` beside the nearest uv.lock, else pyproject.toml, else in the pack
  directory. With a pyproject.toml above, `uv sync --inexact` first brings the venv up to date.
- poetry (poetry.go): `poetry` must be on PATH (at least 1.8.0); the virtualenv is what
  `poetry env info --path` prints in the pack directory.
A missing tool or a venv that cannot be found fails the pack, as in the CLI.

Deliberate differences (pip only): with no virtualenv we run this interpreter, not `python3` from
PATH; with a virtualenv that does not exist the CLI fails, we fall back to this interpreter and say
so on stderr (CI must create the pack's venv for its pinned dependencies to be used).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .packproject import PackProject
from .verdicts import PackError

TOOLCHAINS = ("pip", "uv", "poetry")
_MIN_UV_VERSION = (0, 4, 26)
_MIN_POETRY_VERSION = (1, 8, 0)
_UV_DEFAULT_VIRTUALENV = ".venv"
_TOOL_TIMEOUT_SECONDS = 300.0


def pack_interpreter(project: PackProject) -> tuple[Path, Path | None]:
    """The interpreter for a pack and the virtualenv it belongs to (None when running this one)."""
    virtualenv = _string_option(project, "virtualenv")
    toolchain = _string_option(project, "toolchain")
    if toolchain and toolchain not in TOOLCHAINS:
        raise _failed(project, f"unsupported toolchain option: {toolchain}")
    if not toolchain:  # ResolveToolchain's Auto
        toolchain = ("uv" if _search_up(project.directory, "uv.lock")
                     else "poetry" if _search_up(project.directory, "poetry.lock") else "pip")
    if toolchain == "uv":
        return _uv_interpreter(project, virtualenv)
    if toolchain == "poetry":
        return _poetry_interpreter(project)
    return _pip_interpreter(project, virtualenv)


def _string_option(project: PackProject, name: str) -> str:
    value = project.runtime_options.get(name)
    if value is not None and not isinstance(value, str):
        raise _failed(project, f"{name} option must be a string")
    return value or ""


def _failed(project: PackProject, reason: str) -> PackError:
    return PackError(f"Policy pack {project.directory} failed to start: {reason}")


def _search_up(directory: Path, file_name: str) -> Path | None:
    """The nearest directory from `directory` up holding `file_name` (toolchain.go, searchup)."""
    for candidate in (directory, *directory.parents):
        if (candidate / file_name).exists():
            return candidate
    return None


def _venv_python(project: PackProject, venv_dir: Path, toolchain: str) -> tuple[Path, Path]:
    python = venv_dir / "bin" / "python"
    if not python.is_file():
        raise _failed(project, f"the {toolchain} virtualenv {venv_dir} has no bin/python (create it, as CI does)")
    return python, venv_dir


def _pip_interpreter(project: PackProject, virtualenv: str) -> tuple[Path, Path | None]:
    if not virtualenv:
        return Path(sys.executable), None
    venv_dir = Path(virtualenv)
    if not venv_dir.is_absolute():
        venv_dir = project.directory / venv_dir
    python = venv_dir / "bin" / "python"
    if python.is_file():
        return python, venv_dir
    print(
        f"preflight: policy pack {project.directory}: virtualenv {venv_dir} does not exist, so the pack runs "
        f"with {sys.executable} (the Pulumi CLI would refuse; create the venv, as CI does, to use the pack's "
        "own dependencies)",
        file=sys.stderr,
    )
    return Path(sys.executable), None


def _tool_version(project: PackProject, command: list[str], pattern: str, minimum: tuple[int, ...]) -> None:
    """Run `command` (the tool's --version), fail as the CLI does when it is too old or unreadable."""
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True,
                                timeout=_TOOL_TIMEOUT_SECONDS).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise _failed(project, f"failed to run {' '.join(command)}: {error}") from None
    match = re.search(pattern, output)
    if match is None:
        raise _failed(project, f"unexpected output from `{' '.join(command[:2])}`: {output!r}")
    version = tuple(int(part) for part in re.findall(r"\d+", match.group(1)))
    if version < minimum:
        shown = ".".join(map(str, minimum))
        raise _failed(project, f"{command[0]} version {match.group(1)} is less than the minimum required version "
                               f"{shown}")


def _uv_interpreter(project: PackProject, virtualenv: str) -> tuple[Path, Path]:
    """uv.go: newUv, then Command."""
    uv = shutil.which("uv")
    if uv is None:
        raise _failed(project, "Could not find `uv` executable.\nInstall uv and make sure it is in your PATH.")
    root = project.directory
    if virtualenv:
        venv_dir = Path(virtualenv) if Path(virtualenv).is_absolute() else root / virtualenv
    else:
        project_dir = _search_up(root, "uv.lock") or _search_up(root, "pyproject.toml") or root
        configured = os.environ.get("UV_PROJECT_ENVIRONMENT", "")
        venv_dir = project_dir / (configured or _UV_DEFAULT_VIRTUALENV)  # an absolute value replaces project_dir
    _tool_version(project, [uv, "--version"], r"uv (\d+\.\d+(\.\d+)?)", _MIN_UV_VERSION)
    pyproject_dir = _search_up(root, "pyproject.toml")
    if pyproject_dir is not None:
        _check_pyproject_has_project(project, root, pyproject_dir)
        sync = subprocess.run([uv, "sync", "--inexact"], cwd=root, capture_output=True, text=True,
                              env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv_dir)},
                              timeout=_TOOL_TIMEOUT_SECONDS, check=False)
        if sync.returncode != 0:
            raise _failed(project, f"error creating virtual environment: {sync.stderr.strip()}")
    return _venv_python(project, venv_dir, "uv")


def _check_pyproject_has_project(project: PackProject, root: Path, pyproject_dir: Path) -> None:
    """uv.go, checkPyprojectHasProject: without a uv.lock, uv needs a [project] table to sync."""
    if _search_up(root, "uv.lock") is not None:
        return
    path = pyproject_dir / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise _failed(project, f"{path} cannot be read ({error})") from None
    if "project" not in document:
        raise _failed(project, f"{path} is missing a [project] section, which uv requires to install dependencies; "
                               "add a [project] section with a name and dependencies to use the uv toolchain")


def _poetry_interpreter(project: PackProject) -> tuple[Path, Path]:
    """poetry.go: newPoetry, then Command (VirtualEnvPath)."""
    poetry = shutil.which("poetry")
    if poetry is None:
        raise _failed(project, "Could not find `poetry` executable.\nInstall poetry and make sure it is in your "
                               "PATH, or set the toolchain option in Pulumi.yaml to `pip`.")
    _tool_version(project, [poetry, "--version", "--no-ansi", "--no-plugins"],
                  r"Poetry \(version (\d+\.\d+(\.\d+)?).*\)", _MIN_POETRY_VERSION)
    try:
        shown = subprocess.run([poetry, "env", "info", "--path"], cwd=project.directory, capture_output=True,
                               text=True, check=True, timeout=_TOOL_TIMEOUT_SECONDS).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise _failed(project, f"failed to get venv path: {error}") from None
    if not shown:
        raise _failed(project, "expected a virtualenv path, got empty string")
    return _venv_python(project, Path(shown), "poetry")
