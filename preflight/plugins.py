"""Where the engine finds a package's resource provider plugin (sdk/go/common/workspace/plugins.go,
getPluginInfoAndPath), in its order:

1. the project's own plugins: `Pulumi.yaml` `plugins: providers: [{name, path, version}]`, `path` a
   directory relative to the project root holding `pulumi-resource-<name>`
   (pkg/resource/plugin/host.go, projectPluginsFromProject and resolvePluginPath);
2. `pulumi-resource-<name>` on `$PATH`, unless PULUMI_IGNORE_AMBIENT_PLUGINS is set;
3. the plugin cache, `$PULUMI_HOME/plugins` (default `~/.pulumi/plugins`), directories named
   `resource-<name>-v<version>` (skipped while a `<dir>.partial` marker says they are being
   installed): the exact version when one is requested (SelectCompatiblePlugin), otherwise the
   newest release, or the newest pre-release when there is no release (LegacySelectCompatiblePlugin).

Differs on purpose: nothing is ever downloaded (`pluginDownloadURL` is not followed), and plugins
bundled next to the `pulumi` binary are not looked for (there is no CLI here).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

# workspace.pluginRegexp: KIND-NAME-vVERSION.
_CACHE_ENTRY = re.compile(r"^(?P<kind>[a-z]+)-(?P<name>[a-zA-Z0-9-][a-zA-Z0-9-_.]*[a-zA-Z0-9])-v(?P<version>.*)$")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class PluginError(Exception):
    """The project names a plugin that cannot be used (the engine fails the same way)."""


def provider_binary_name(package: str) -> str:
    """PluginDescriptor.File for a resource plugin."""
    return f"pulumi-resource-{package}"


def _semver_key(version: str) -> tuple[Any, ...] | None:
    """A sort key ordering versions as semver does (a pre-release sorts before its release)."""
    match = _SEMVER.match(version)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    pre_key: tuple[Any, ...] = (1,)  # a release outranks every pre-release of the same version
    if pre:
        pre_key = (0, *((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")))
    return (int(major), int(minor), int(patch), pre_key)


def find_project_root(start: Path) -> Path | None:
    """workspace.DetectProjectPath: the nearest directory at or above `start` holding Pulumi.yaml."""
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file() or (directory / "Pulumi.yml").is_file():
            return directory
    return None


def _project_plugin(package: str, version: str, project_root: Path) -> Path | None:
    project_file = project_root / "Pulumi.yaml"
    if not project_file.is_file():
        project_file = project_root / "Pulumi.yml"
    if not project_file.is_file():
        return None
    document = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    plugins = document.get("plugins") if isinstance(document, dict) else None
    providers = plugins.get("providers") if isinstance(plugins, dict) else None
    for entry in providers or []:
        if not isinstance(entry, dict) or entry.get("name") != package:
            continue
        wanted = str(entry.get("version") or "")
        if wanted and version and _semver_key(wanted) != _semver_key(version):
            continue  # the engine warns "incompatible with requested version" and looks further
        directory = Path(str(entry.get("path") or ""))
        if not directory.is_absolute():
            directory = project_root / directory
        if not directory.is_dir():
            raise PluginError(f"parsing plugin options for '{package}': no folder at path '{directory}'")
        return directory.resolve() / provider_binary_name(package)
    return None


def _cached_plugin(package: str, version: str, plugin_dir: Path) -> Path | None:
    if not plugin_dir.is_dir():
        return None
    candidates: list[tuple[tuple[Any, ...], Path]] = []
    for entry in plugin_dir.iterdir():
        match = _CACHE_ENTRY.match(entry.name)
        if not entry.is_dir() or match is None or match["kind"] != "resource" or match["name"] != package:
            continue
        if Path(f"{entry}.partial").exists():
            continue
        key = _semver_key(match["version"])
        if key is None:
            continue
        if version:
            if key == _semver_key(version):
                return entry / provider_binary_name(package)
            continue
        is_release = key[3] == (1,)
        candidates.append(((is_release, key), entry))  # any release before any pre-release, then newest
    if not candidates:
        return None
    return max(candidates)[1] / provider_binary_name(package)


def pulumi_plugin_dir() -> Path:
    """workspace.GetPluginDir: `$PULUMI_HOME/plugins`, `~/.pulumi/plugins` by default."""
    home = os.environ.get("PULUMI_HOME") or str(Path.home() / ".pulumi")
    return Path(home) / "plugins"


def find_provider_plugin(package: str, version: str, project_root: Path | None) -> Path | None:
    """The executable the engine would start for `package`'s provider, or None when there is none."""
    if project_root is not None:
        found = _project_plugin(package, version, project_root)
        if found is not None:
            return found
    if not os.environ.get("PULUMI_IGNORE_AMBIENT_PLUGINS"):
        ambient = shutil.which(provider_binary_name(package))
        if ambient is not None:
            return Path(ambient)
    return _cached_plugin(package, version, pulumi_plugin_dir())
