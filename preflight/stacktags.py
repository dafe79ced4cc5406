"""The stack's tags, as the engine sends them to policy packs in ConfigureStack.

pkg/engine/update.go passes `target.Tags` to every pack (PolicyAnalyzerOptions.Tags, sent by
pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer). For a stack of the Pulumi Cloud backend
those are the tags pkg/backend/stack.go, GetEnvironmentTagsForCurrentStack, derives: `pulumi:project`,
`pulumi:runtime` and `pulumi:description` from Pulumi.yaml, then every entry of the `pulumi:tags`
config object.

Deliberate differences: the tags a backend already stores for the stack (`pulumi stack tag set`) are
not known offline and the git metadata tags (`vcs:*`) are not derived; a DIY backend sends only its
stored tags, so a pack sees more tags here than under a DIY backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .verdicts import PackError

PROJECT_NAME_TAG = "pulumi:project"  # sdk/go/common/apitype/core.go
PROJECT_RUNTIME_TAG = "pulumi:runtime"
PROJECT_DESCRIPTION_TAG = "pulumi:description"
TAGS_CONFIG_KEY = "pulumi:tags"  # apitype.PulumiTagsConfigKey
_PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def stack_tags(project_dir: Path | None, config: dict[str, str]) -> dict[str, str]:
    """The tags of the stack whose project lives in `project_dir` (None: no Pulumi.yaml tags)."""
    tags: dict[str, str] = {}
    project = _read_project(project_dir) if project_dir is not None else None
    if project is not None:
        tags[PROJECT_NAME_TAG] = str(project.get("name", ""))
        runtime = project.get("runtime")
        tags[PROJECT_RUNTIME_TAG] = str(runtime.get("name", "") if isinstance(runtime, dict) else runtime or "")
        if project.get("description") is not None:
            tags[PROJECT_DESCRIPTION_TAG] = str(project["description"])
    if TAGS_CONFIG_KEY in config:
        tags.update(_config_tags(config[TAGS_CONFIG_KEY]))
    return tags


def _read_project(project_dir: Path) -> dict[str, Any] | None:
    for name in _PROJECT_FILES:
        path = Path(project_dir) / name
        if path.is_file():
            try:
                document = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as error:
                raise PackError(f"{path} cannot be read for the stack's tags ({error}).") from None
            return document if isinstance(document, dict) else None
    return None


def _config_tags(text: str) -> dict[str, str]:
    """The `pulumi:tags` config value (its JSON text), checked as GetEnvironmentTagsForCurrentStack does."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = text
    if not isinstance(value, dict):
        raise PackError(f"{TAGS_CONFIG_KEY} must be an object of strings")
    for name, tag in value.items():
        if not isinstance(tag, str):
            raise PackError(f"{TAGS_CONFIG_KEY}[{name}] must be a string")
    return dict(value)
