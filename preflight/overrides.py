"""`--set KEY=JSON` on a stack's config, as `pulumi config set` (and `rm`) would leave it: one meaning for
every tool that reads a stack offline (the lab, the audit).

Objects merge key by key into what the stack file holds; anything else replaces it; `KEY=null` removes
the key, as `pulumi config rm KEY`. A value that is not JSON is a plain string.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from preflight.stackconfig import StackConfig


class OverrideError(ValueError):
    """A `--set` that cannot be read, phrased for a person."""


def merge(base: Any, override: Any) -> Any:
    """`override` merged into `base`: objects key by key, everything else replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return override


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """["isp:dns={...}"] -> {"isp:dns": {...}}; the same key twice: objects merge, the later wins."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or ":" not in key:
            raise OverrideError(f"--set {pair!r}: write NAMESPACE:KEY=JSON, "
                                'e.g. isp:dns={"recursionClients":["any"]}')
        value = decoded(text)
        overrides[key] = merge(overrides[key], value) if key in overrides and value is not None else value
    return overrides


def decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def with_overrides(program: StackConfig, overrides: Mapping[str, Any],
                   secrets: Mapping[str, str] | None = None) -> StackConfig:
    """The stack's config after `secrets` (set as `config set --secret`) and `overrides`."""
    config = dict(program.config)
    secret_keys = set(program.secret_keys)
    for key, value in (secrets or {}).items():
        config[key] = value
        secret_keys.add(key)
    for key, value in overrides.items():
        if value is None:
            config.pop(key, None)
            secret_keys.discard(key)
            continue
        current = decoded(config[key]) if key in config else None
        merged = merge(current, value) if current is not None else value
        config[key] = merged if isinstance(merged, str) else json.dumps(merged, sort_keys=True, separators=(",", ":"))
    return dataclasses.replace(program, config=config, secret_keys=sorted(secret_keys))


def namespace_values(program: StackConfig, namespace: str) -> dict[str, Any]:
    """The namespace's plain values, decoded, its secrets left out (the model never holds a secret)."""
    prefix = f"{namespace}:"
    return {key.removeprefix(prefix): decoded(text) for key, text in program.config.items()
            if key.startswith(prefix) and key not in program.secret_keys}
