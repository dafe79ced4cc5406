"""Policy pack configuration as the engine builds it (pulumi/pulumi pkg/resource/analyzer/config.go).

`--policy-pack-config` parsed (parsePolicyPackConfig), reconciled with each policy's level and schema
defaults and the pack's initial config (ReconcilePolicyPackConfig), then validated against each
policy's schema (validatePolicyPackConfig).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .configschema import SchemaError, config_errors
from .verdicts import ENFORCEMENT_LEVELS, PackError, PolicyInfo

# The engine adds this property to every schema of a pack that supports config (analyzer_plugin.go, GetAnalyzerInfo).
ENFORCEMENT_LEVEL_SCHEMA = {"type": "string", "enum": list(ENFORCEMENT_LEVELS)}


@dataclass(frozen=True)
class PolicyConfig:
    """A policy's configuration; enforcement_level is "" when a config entry sets none."""

    enforcement_level: str
    properties: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------------
# Policy pack configuration (pkg/resource/analyzer/config.go)


def parse_policy_pack_config(text: str) -> dict[str, PolicyConfig]:
    """Parse `--policy-pack-config` JSON: each key maps to a level string or an object of properties."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PackError(f"The policy pack config is not valid JSON ({error}).") from None
    if not isinstance(document, dict):
        raise PackError("The policy pack config must be a JSON object keyed by policy name (or `all`).")
    result = {}
    for key, value in document.items():
        if isinstance(value, str):
            level, properties = _checked_level(key, value), None
        elif isinstance(value, dict):
            properties = dict(value)
            level = _checked_level(key, properties.pop("enforcementLevel")) if "enforcementLevel" in properties else ""
            properties = properties or None
        else:
            raise PackError(
                f"The policy pack config entry {key!r} must be an enforcement level or an object, "
                f"not a JSON {_json_type(value)}."
            )
        if level or properties:
            result[key] = PolicyConfig(level, properties)
    return result


def _checked_level(key: str, level: Any) -> str:
    if level not in ENFORCEMENT_LEVELS:
        raise PackError(
            f"The policy pack config entry {key!r} has enforcement level {level!r}; "
            f"valid levels are {', '.join(ENFORCEMENT_LEVELS)}."
        )
    return level


def reconcile_policy_pack_config(
    policies: Iterable[PolicyInfo],
    initial_config: dict[str, PolicyConfig] | None,
    config: dict[str, PolicyConfig] | None,
) -> dict[str, PolicyConfig]:
    """Every policy's level and properties: its own level and schema defaults, then the pack's
    initial config, then the config file (ReconcilePolicyPackConfig, before validation)."""
    result = {policy.name: PolicyConfig(policy.enforcement_level, _schema_defaults(policy)) for policy in policies}
    for layer in (initial_config, config):
        if layer:
            result = _apply_config(result, layer)
    return result


def _schema_defaults(policy: PolicyInfo) -> dict[str, Any] | None:
    schema_properties = (policy.config_schema or {}).get("properties") or {}
    defaults = {name: spec["default"] for name, spec in schema_properties.items() if "default" in spec}
    return defaults or None


def _apply_config(result: dict[str, PolicyConfig], layer: dict[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    result = dict(result)
    everything = layer.get("all")
    if everything is not None and everything.enforcement_level in ENFORCEMENT_LEVELS:
        result = {name: PolicyConfig(everything.enforcement_level, entry.properties) for name, entry in result.items()}
    # Like the engine, this also keeps an entry named "all" (and any unknown name); the pack ignores it.
    for name, given in layer.items():
        current = result.get(name, PolicyConfig("", None))
        level = given.enforcement_level if given.enforcement_level in ENFORCEMENT_LEVELS else current.enforcement_level
        properties = current.properties
        if given.properties:
            properties = {**(properties or {}), **given.properties}
        result[name] = PolicyConfig(level, properties)
    return result


def validate_policy_pack_config(policies: Iterable[PolicyInfo], config: dict[str, PolicyConfig]) -> list[str]:
    """Errors of each policy's properties against its config schema, as "<policy>: <error>" in the engine's
    words (validatePolicyPackConfig); PackError when a schema itself is invalid."""
    errors = []
    for policy in policies:
        if policy.config_schema is None:
            continue
        entry = config.get(policy.name)
        properties = entry.properties if entry is not None and entry.properties is not None else {}
        try:
            found = config_errors(engine_schema(policy.config_schema), properties)
        except SchemaError as error:
            raise PackError(f"The config schema of policy {policy.name!r} is invalid: {error.message}") from None
        errors.extend(f"{policy.name}: {message}" for message in found)
    return errors


def engine_schema(config_schema: dict) -> dict:
    """The schema the engine validates a policy's config against (config.go, convertSchema)."""
    schema: dict[str, Any] = {"type": "object"}
    if config_schema.get("properties"):
        schema["properties"] = config_schema["properties"]
    if config_schema.get("required"):
        schema["required"] = list(config_schema["required"])
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def read_config_file(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise PackError(f"The policy pack config file {path} cannot be read ({error.strerror}).") from None
    return parse_policy_pack_config(text)

