"""Reading a stack's `isp:` keys into the model, and phrasing what is wrong for a person.

Nothing is registered before `load_stack_config` has returned, so bad input can never
half-apply a stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import (
    ValidationError,
)
from pydantic.alias_generators import to_camel

from components.config.keys import CONFIG_NAMESPACE, SECRET_KEYS
from components.config.model import StackConfig
from components.config.zones_from import ZoneListError, listed_zones


class ConfigError(ValueError):
    """A stack config problem, phrased for a person: file, key, value, rule."""


# ---------------------------------------------------------------------------------------
# Reading the stack's config


def _location(loc: tuple[Any, ...]) -> str:
    """('hosts', 2, 'public_address') -> 'hosts[2].publicAddress' (the YAML spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "literal[", "list[")) and "[" not in part:
            out += ("." if out else "") + to_camel(part)
    return out


def _explain(error: ValidationError, stack_file: str, zone_sources: list[tuple[str, int] | None]) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        path = _location(loc)
        key = f"{CONFIG_NAMESPACE}:{path}" if path else f"{CONFIG_NAMESPACE}"
        if len(loc) > 1 and loc[0] == "zones" and isinstance(loc[1], int) and loc[1] < len(zone_sources):
            source = zone_sources[loc[1]]
            if source is not None:  # a zone read from a zonesFrom file: the file and its index there
                inner = _location(loc[2:])
                key = f"{source[0]}: [{source[1]}]" + (f".{inner}" if inner else "")
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
        if len(shown) > 120:
            shown = shown[:117] + "..."
        if err["type"] == "missing":
            lines.append(f"{key} is required but missing")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{key} is not a known setting (value {shown}); check its spelling in the config reference")
        elif not path:
            # A cross-field rule: its message names the keys and values itself.
            lines.append(f"{CONFIG_NAMESPACE}:{msg}")
        elif isinstance(value, dict):
            lines.append(f"{key}: {msg}")
        else:
            head = f"{key} = {shown}: "
            # A union (IPv4 | IPv6) fails once per branch: say it once, branches joined.
            if lines and lines[-1].startswith(head):
                lines[-1] += f", nor {msg[0].lower()}{msg[1:]}"
            else:
                lines.append(head + msg)
    # pydantic reports every branch of a union; keep each distinct line once.
    return _invalid(stack_file, list(dict.fromkeys(lines)))


def _invalid(stack_file: str, lines: list[str]) -> str:
    return f"{stack_file}: invalid stack config:\n  - " + "\n  - ".join(lines)


def parse_stack_config(
    values: Mapping[str, Any], stack_file: str = "stack config", project_dir: str | None = None
) -> StackConfig:
    """Build the model from `isp:` keys (namespace already stripped, values already decoded).

    The zones of `zonesFrom` files (relative to `project_dir`, default: the working directory)
    follow those of `zones`; an error in one names the file and the zone's index in it.
    """
    values = dict(values)
    zone_sources: list[tuple[str, int] | None] = []
    inline = values.get("zones") or []
    if values.get("zonesFrom") and isinstance(inline, list):
        try:
            listed, sources = listed_zones(values["zonesFrom"], project_dir or os.getcwd())
        except ZoneListError as exc:
            raise ConfigError(_invalid(stack_file, [str(exc)])) from None
        values["zones"] = [*inline, *listed]
        # Inline zones keep their isp:zones[i] locations; listed ones are named by file.
        zone_sources = [None] * len(inline) + sources
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, stack_file, zone_sources)) from None


def load_stack_config() -> StackConfig:
    """Read every `isp:` key of the running stack into the model (inside a Pulumi program)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    stack = pulumi.get_stack()
    prefix = f"{CONFIG_NAMESPACE}:"
    raw: dict[str, Any] = {}
    # The CLI's language host sets config in-process; PULUMI_CONFIG is the older route.
    for full_key, text in {**get_config_env(), **CONFIG.get()}.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key.startswith("config:"):  # the legacy "isp:config:key" spelling
            key = key[len("config:") :]
        raw[key] = _decode(text)
    secret_keys = {h.get("sshKeyConfig", "sshPrivateKey") for h in raw.get("hosts", []) if isinstance(h, dict)}
    secret_keys |= set(SECRET_KEYS)
    values = {k: v for k, v in raw.items() if k not in secret_keys}
    try:
        # zonesFrom paths are relative to the project directory (where Pulumi.yaml is).
        project_dir = pulumi.runtime.get_root_directory() or os.getcwd()
        return parse_stack_config(values, f"Pulumi.{stack}.yaml", project_dir)
    except ConfigError as exc:
        # RunError is how a program tells the engine "my input is wrong": no traceback.
        raise pulumi.RunError(str(exc)) from None


def _decode(text: str) -> Any:
    """The engine passes objects and lists as JSON text and scalars as plain strings."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
