"""What preflight records of a program run: one Registration per resource, as the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Engine wire-form sentinels (sdk/python/lib/pulumi/runtime/rpc.py).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
# The engine's own type names: the root Stack, and the prefix of every provider resource's type.
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


def is_secret(value: Any) -> bool:
    """Whether a wire-form value is a secret (`{SIG_KEY: SECRET_SIG, "value": ...}`, or its ciphertext form)."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def secret(value: Any) -> dict[str, Any]:
    """A value wrapped as a secret, in wire form."""
    return {SIG_KEY: SECRET_SIG, "value": value}


@dataclass
class Registration:
    """One registered resource.

    `inputs` and `outputs` are in the engine's wire form (JSON-compatible): unknowns are the
    UNKNOWN string, secrets `{SIG_KEY: SECRET_SIG, "value": ...}`, assets
    `{SIG_KEY: ASSET_SIG, "text"|"path"|"uri": ...}`, so they can be sent to a policy pack
    exactly as the engine would send them. `outputs` is what AnalyzeStack sees at a first
    preview: the inputs plus unknowns for what the provider computes (ids included).
    """

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    provider: str | None = None  # provider reference "urn::id" as the engine writes it
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""  # "" while unknown (a resource being created at preview)
    # Resource options the engine's step generator reads (diff, replacement, deletion).
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)
