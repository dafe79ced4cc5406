"""The install script, run for real in a temp dir: validate, swap with a dated copy, roll back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.delivery import ManagedFile, install_script, staging_path


def _stage(files: list[ManagedFile]) -> None:
    for managed in files:
        staged = Path(staging_path(managed.path))
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(managed.content)


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


@pytest.fixture
def conf(tmp_path) -> Path:
    path = tmp_path / "etc" / "named.conf"
    path.parent.mkdir(parents=True)
    path.write_text("old\n")
    return path


def test_staging_keeps_basename_beside_the_real_path():
    assert staging_path("/etc/bind/named.conf") == "/etc/bind/isp-staging/named.conf"
    assert staging_path("/etc/nftables.conf") == "/etc/isp-staging/nftables.conf"


def test_valid_file_is_swapped_in_with_a_dated_copy(conf):
    files = [ManagedFile(str(conf), "new\n")]
    _stage(files)
    result = _run(install_script(files, [["test", "-s", staging_path(str(conf))]], [["true"]]))
    assert result.returncode == 0, result.stderr
    assert conf.read_text() == "new\n"
    backups = list(conf.parent.glob("named.conf.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == "old\n"


def test_failed_validation_never_replaces_the_working_file(conf):
    files = [ManagedFile(str(conf), "broken\n")]
    _stage(files)
    result = _run(install_script(files, [["false"]], [["true"]]))
    assert result.returncode != 0
    assert "validation failed" in result.stderr
    assert conf.read_text() == "old\n"
    assert not list(conf.parent.glob("*.bak"))


def test_failed_reload_restores_previous_files_and_removes_new_ones(conf, tmp_path):
    fresh = tmp_path / "etc" / "zones" / "db.example"
    files = [ManagedFile(str(conf), "new\n"), ManagedFile(str(fresh), "zone\n")]
    _stage(files)
    marker = tmp_path / "reloads"
    reload = [["sh", "-c", f'echo x >> "{marker}"; [ "$(cat {conf})" = old ]']]
    result = _run(install_script(files, [], reload))
    assert result.returncode != 0
    assert "previous configuration restored" in result.stderr
    assert conf.read_text() == "old\n"
    assert not fresh.exists()
    assert marker.read_text().count("x") == 2  # the failed reload, then the reload of the old config


def test_hostile_paths_and_arguments_stay_single_words(tmp_path):
    evil_dir = tmp_path / "a b;touch pwned$(id)"
    target = evil_dir / "x.conf"
    files = [ManagedFile(str(target), "content\n")]
    _stage(files)
    result = subprocess.run(
        ["sh", "-c", install_script(files, [["test", "-f", staging_path(str(target))]], [])],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "content\n"
    assert not (tmp_path / "pwned").exists() and not list(tmp_path.glob("pwned*"))
