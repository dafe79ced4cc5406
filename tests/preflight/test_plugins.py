"""preflight/plugins.py: a provider plugin found where the engine looks (workspace.getPluginInfoAndPath)."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.plugins import PluginError, find_project_root, find_provider_plugin


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def clean_lookup(tmp_path, monkeypatch):
    """No ambient plugins and an empty plugin cache unless a test puts some there."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_IGNORE_AMBIENT_PLUGINS", raising=False)
    return tmp_path


def _project(root: Path, plugins_yaml: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(f"name: p\nruntime: python\n{plugins_yaml}", encoding="utf-8")
    return root


def test_project_plugin_path_is_relative_to_the_project_root_and_wins_over_path(clean_lookup):
    plugin = _executable(clean_lookup / "plugins" / "tc" / "pulumi-resource-tc")
    _executable(clean_lookup / "bin" / "pulumi-resource-tc")
    root = _project(clean_lookup / "project", "plugins:\n  providers:\n    - name: tc\n      path: ../plugins/tc\n")
    assert find_provider_plugin("tc", "", root) == plugin.resolve()


def test_project_plugin_folder_missing_is_an_error_as_in_the_engine(clean_lookup):
    root = _project(clean_lookup / "project", "plugins:\n  providers:\n    - name: tc\n      path: nowhere\n")
    with pytest.raises(PluginError, match="no folder at path"):
        find_provider_plugin("tc", "", root)


def test_project_plugin_of_another_version_is_passed_over(clean_lookup):
    _executable(clean_lookup / "plugins" / "tc" / "pulumi-resource-tc")
    ambient = _executable(clean_lookup / "bin" / "pulumi-resource-tc")
    root = _project(clean_lookup / "project",
                    "plugins:\n  providers:\n    - name: tc\n      path: ../plugins/tc\n      version: 1.0.0\n")
    assert find_provider_plugin("tc", "2.0.0", root) == ambient


def test_ambient_plugin_on_path_unless_ignored(clean_lookup, monkeypatch):
    ambient = _executable(clean_lookup / "bin" / "pulumi-resource-tc")
    assert find_provider_plugin("tc", "", None) == ambient
    monkeypatch.setenv("PULUMI_IGNORE_AMBIENT_PLUGINS", "1")
    assert find_provider_plugin("tc", "", None) is None


def test_plugin_cache_exact_version_when_one_is_requested(clean_lookup):
    cache = clean_lookup / "home" / "plugins"
    wanted = _executable(cache / "resource-tc-v1.2.0" / "pulumi-resource-tc")
    _executable(cache / "resource-tc-v1.3.0" / "pulumi-resource-tc")
    assert find_provider_plugin("tc", "1.2.0", None) == wanted
    assert find_provider_plugin("tc", "1.4.0", None) is None


def test_plugin_cache_newest_release_without_a_version_pre_releases_and_partial_installs_last(clean_lookup):
    cache = clean_lookup / "home" / "plugins"
    release = _executable(cache / "resource-tc-v1.10.0" / "pulumi-resource-tc")
    _executable(cache / "resource-tc-v1.9.0" / "pulumi-resource-tc")
    _executable(cache / "resource-tc-v1.11.0-alpha.1" / "pulumi-resource-tc")
    _executable(cache / "resource-tc-v2.0.0" / "pulumi-resource-tc")
    (cache / "resource-tc-v2.0.0.partial").write_text("", encoding="utf-8")
    _executable(cache / "resource-other-v9.0.0" / "pulumi-resource-other")
    assert find_provider_plugin("tc", "", None) == release


def test_no_plugin_anywhere_is_none(clean_lookup):
    assert find_provider_plugin("tc", "", _project(clean_lookup / "project")) is None


def test_project_root_is_the_nearest_directory_with_pulumi_yaml(tmp_path):
    root = _project(tmp_path / "project")
    (root / "main" / "deep").mkdir(parents=True)
    assert find_project_root(root / "main" / "deep") == root
    assert find_project_root(tmp_path) is None
