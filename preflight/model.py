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
# The key under which the engine keeps a provider resource's plugin settings (pluginDownloadURL...) in its
# inputs (pkg/resource/deploy/providers/registry.go); never sent to packs, not in the provider's outputs.
INTERNAL_KEY = "__internal"
# What preflight shows, in every report and message, in place of a secret value.
SECRET_TEXT = "[secret]"


def provider_urn(reference: str | None) -> str:
    """The provider's URN in a provider reference `<provider urn>::<id>` (URNs hold "::" themselves); ""
    for no reference."""
    return reference.rsplit("::", 1)[0] if reference and "::" in reference else ""


def is_secret(value: Any) -> bool:
    """Whether a wire-form value is a secret (`{SIG_KEY: SECRET_SIG, "value": ...}`, or its ciphertext form)."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def secret(value: Any) -> dict[str, Any]:
    """A value wrapped as a secret, in wire form."""
    return {SIG_KEY: SECRET_SIG, "value": value}


@dataclass(frozen=True)
class CustomTimeouts:
    """A resource's customTimeouts in seconds, as resmon parses them (source_eval.go,
    generateTimeoutInSeconds); 0 is "not set", as the engine sends it."""

    create: float = 0.0
    update: float = 0.0
    delete: float = 0.0
    read: float = 0.0


@dataclass
class Registration:
    """One registered resource.

    `inputs` and `outputs` are in the engine's wire form (JSON-compatible): unknowns are the
    UNKNOWN string, secrets `{SIG_KEY: SECRET_SIG, "value": ...}`, assets
    `{SIG_KEY: ASSET_SIG, "text"|"path"|"uri": ...}`, so they can be sent to a policy pack
    exactly as the engine would send them. `outputs` is what AnalyzeStack sees at a first
    preview: the inputs plus unknowns for what the provider computes (ids included); a provider
    resource's outputs are its inputs without `__internal` (FilterProviderConfig), no id.
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
    delete_before_replace_defined: bool = False  # the program set it (true or false): the engine's *bool
    retain_on_delete: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)
    # The alias URNs the program gave, collapsed as the step generator does (collapseAliasToUrn).
    aliases: list[str] = field(default_factory=list)
    # The old URN this resource was found under through one of its aliases (the state's Aliases, which is
    # what packs are sent): "" when none matched, as at a first preview.
    aliased_from: str = ""
    custom_timeouts: CustomTimeouts = field(default_factory=CustomTimeouts)
