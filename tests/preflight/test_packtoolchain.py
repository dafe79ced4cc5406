"""preflight.packtoolchain: the interpreter a pack runs with, per its runtime options (pip, uv, poetry)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from pack_helpers import Runner, how_the_pack_ran, introspect_pack

from preflight.packproject import PackProject
from preflight.packtoolchain import pack_interpreter
from preflight.verdicts import PackError

# Where requirements-dev.txt installs `uv`, the tool a uv pack needs on PATH.
TOOLS_BIN = Path(sys.executable).parent


def make_venv(venv_dir: Path, *, with_uv: bool) -> Path:
    """A virtualenv whose python sees this venv's packages (pulumi_policy) through a .pth file."""
    if with_uv:
        subprocess.run([str(TOOLS_BIN / "uv"), "venv", "--quiet", "--python", sys.executable, str(venv_dir)],
                       check=True, capture_output=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True)
    [site_packages] = venv_dir.glob("lib/python*/site-packages")
    (site_packages / "preflight-test.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv_dir / "bin" / "python"


def path_without_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH as a machine without uv or poetry has it."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "uv").exists() and not (Path(d) / "poetry").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))


def test_uv_pack_runs_with_the_python_of_its_uv_venv(tmp_path, monkeypatch):
    pack = introspect_pack(tmp_path / "pack", {"toolchain": "uv"})
    venv_python = make_venv(pack / ".venv", with_uv=True)  # uv's default virtualenv, beside the pack
    monkeypatch.setenv("PATH", os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")]))
    runner = Runner(monkeypatch)
    report = runner.run([pack])
    ran = how_the_pack_ran(report)
    assert ran["executable"] == str(venv_python)
    assert ran["virtualEnv"] == str(pack / ".venv")
    assert [process.args[0] for process in runner.pack_processes()] == [str(venv_python)]
    runner.assert_all_stopped(expected=1)


def test_poetry_pack_runs_with_the_venv_poetry_names(tmp_path, monkeypatch):
    pack = introspect_pack(tmp_path / "pack", {"toolchain": "poetry"})
    venv_python = make_venv(tmp_path / "poetry-venvs" / "pack-py3.11", with_uv=False)
    tools = tmp_path / "bin"
    tools.mkdir()
    poetry = tools / "poetry"  # answers the two questions the language host asks poetry
    poetry.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  "--version --no-ansi --no-plugins") echo "Poetry (version 1.8.3)" ;;\n'
        f'  "env info --path") [ "$PWD" = "{pack}" ] && echo "{venv_python.parent.parent}" ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    poetry.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(tools), os.environ.get("PATH", "")]))
    runner = Runner(monkeypatch)
    ran = how_the_pack_ran(runner.run([pack]))
    assert ran["executable"] == str(venv_python)
    assert ran["virtualEnv"] == str(venv_python.parent.parent)
    runner.assert_all_stopped(expected=1)


@pytest.mark.parametrize(("toolchain", "missing"), [("uv", "`uv`"), ("poetry", "`poetry`")])
def test_a_missing_tool_fails_the_pack_instead_of_running_our_interpreter(toolchain, missing, tmp_path, monkeypatch):
    pack = introspect_pack(tmp_path / "pack", {"toolchain": toolchain})
    path_without_tools(monkeypatch)
    runner = Runner(monkeypatch)
    with pytest.raises(PackError, match=f"failed to start: Could not find {missing} executable"):
        runner.run([pack])
    assert runner.pack_processes() == []


def test_a_uv_pack_without_its_venv_fails(tmp_path, monkeypatch):
    project = PackProject(tmp_path, "python", {"toolchain": "uv", "virtualenv": "env"})
    monkeypatch.setenv("PATH", os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")]))
    with pytest.raises(PackError, match=f"uv virtualenv {tmp_path / 'env'} has no bin/python"):
        pack_interpreter(project)


def test_uv_lock_selects_uv_without_a_toolchain_option(tmp_path, monkeypatch):
    (tmp_path / "uv.lock").write_text("version = 1\n")
    pack = tmp_path / "pack"
    pack.mkdir()
    path_without_tools(monkeypatch)
    with pytest.raises(PackError, match="Could not find `uv` executable"):  # ResolveToolchain's auto-detection
        pack_interpreter(PackProject(pack, "python", {}))


def test_uv_needs_a_project_table_in_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    monkeypatch.setenv("PATH", os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")]))
    with pytest.raises(PackError, match=r"pyproject.toml is missing a \[project\] section"):
        pack_interpreter(PackProject(tmp_path, "python", {"toolchain": "uv"}))


@pytest.mark.parametrize(("options", "reason"), [
    ({"toolchain": "conda"}, "unsupported toolchain option: conda"),
    ({"toolchain": 1}, "toolchain option must be a string"),
    ({"virtualenv": ["venv"]}, "virtualenv option must be a string"),
])
def test_invalid_runtime_options_are_refused(options, reason, tmp_path):
    with pytest.raises(PackError, match=reason):
        pack_interpreter(PackProject(tmp_path, "python", options))


def test_missing_virtualenv_falls_back_to_this_interpreter(tmp_path, capsys):
    project = PackProject(tmp_path, "python", {"virtualenv": "venv"})
    assert pack_interpreter(project) == (Path(sys.executable), None)
    assert f"virtualenv {tmp_path / 'venv'} does not exist" in capsys.readouterr().err
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    assert pack_interpreter(project) == (tmp_path / "venv" / "bin" / "python", tmp_path / "venv")


def test_pip_toolchain_is_the_virtualenv_option(tmp_path):
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert pack_interpreter(PackProject(tmp_path, "python", {"toolchain": "pip", "virtualenv": "venv"})) == (
        python, tmp_path / "venv")
    assert pack_interpreter(PackProject(tmp_path, "python", {"toolchain": "pip"})) == (Path(sys.executable), None)
