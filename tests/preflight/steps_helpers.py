"""Builders for the step, guard and plan tests: registrations as the runner records them and prior
resources as a `pulumi stack export` checkpoint holds them (preflight.state's types)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from preflight.model import ASSET_SIG, SECRET_SIG, SIG_KEY, Registration
from preflight.state import Checkpoint, PriorResource

STACK = "prod"
PROJECT = "isp"
STACK_TYPE = "pulumi:pulumi:Stack"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::{STACK_TYPE}::isp-{STACK}"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ZONE = "cloudflare:index/zone:Zone"
DNS_ZONE = "isp:dns:DnsZone"
LOCAL_COMMAND = "command:local:Command"
COPY = "command:remote:CopyToRemote"
CLOUDFLARE_PROVIDER = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:cloudflare::default_6_23_0"
PROVIDER_ID = "0b7f3c52-7f0e-4a0e-9b8e-3c6c1c0e5f11"


def urn(type_: str, name: str, parent: str | None = None) -> str:
    """The engine's URN: the parent's qualified type (the Stack's elided) `$` the type."""
    qualified = type_
    if parent and parent != STACK_URN:
        qualified = f"{parent.split('::')[2]}${type_}"
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def registration(type_: str, name: str, inputs: dict[str, Any] | None = None, *, parent: str | None = STACK_URN,
                 custom: bool = True, protect: bool = False, provider: str | None = None) -> Registration:
    if custom and provider is None and type_.startswith(("cloudflare:", "command:")):
        package = type_.split(":", 1)[0]
        default = CLOUDFLARE_PROVIDER if package == "cloudflare" else CLOUDFLARE_PROVIDER.replace(
            "cloudflare::default_6_23_0", "command::default_1_2_0")
        provider = f"{default}::{PROVIDER_ID}"
    return Registration(urn=urn(type_, name, parent), type=type_, name=name, custom=custom, parent=parent,
                        protect=protect, provider=provider, inputs=dict(inputs or {}))


def prior(of: Registration | str, inputs: dict[str, Any] | None = None, *, type_: str | None = None,
          protect: bool = False, provider: str | None = None, custom: bool | None = None,
          parent: str | None = None, raw: dict[str, Any] | None = None) -> PriorResource:
    """The checkpoint entry of a resource: of a registration (its inputs unless given) or of a URN."""
    if isinstance(of, Registration):
        the_urn, kind = of.urn, of.type
        inputs = of.inputs if inputs is None else inputs
        provider = of.provider if provider is None else provider
        custom = of.custom if custom is None else custom
        parent = of.parent if parent is None else parent
    else:
        the_urn, kind = of, type_ or of.split("::")[2].rsplit("$", 1)[-1]
        custom = True if custom is None else custom
    entry = {"urn": the_urn, "custom": custom, "type": kind, "inputs": inputs or {}, **(raw or {})}
    return PriorResource(urn=the_urn, type=kind, custom=bool(custom), id="id-" + the_urn.rsplit("::", 1)[-1],
                         inputs=dict(inputs or {}), outputs={}, parent=parent, protect=protect, provider=provider,
                         dependencies=(), delete_before_replace=False, retain_on_delete=False, raw=entry,
                         delete=bool(entry.get("delete", False)))


def checkpoint(*resources: PriorResource) -> Checkpoint:
    return Checkpoint(resources=tuple(resources))


def ciphertext(value: Any) -> dict[str, Any]:
    """A secret as `pulumi stack export` writes it: opaque ciphertext (here base64 of nothing we know)."""
    return {SIG_KEY: SECRET_SIG, "ciphertext": "AAABAKz9qb3Vx1TnLz0wqwXZ8e0CWIrd" + str(len(json.dumps(value)))}


def plaintext(value: Any) -> dict[str, Any]:
    """A secret as `pulumi stack export --show-secrets` writes it."""
    return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(value)}


def secret(value: Any) -> dict[str, Any]:
    """A secret in the wire form a program registers."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def text_asset(text: str, *, hashed: bool = False) -> dict[str, Any]:
    asset: dict[str, Any] = {SIG_KEY: ASSET_SIG, "text": text}
    if hashed:
        asset["hash"] = hashlib.sha256(text.encode()).hexdigest()
    return asset


ZONE_FILE = """$TTL 3600
@\tIN\tSOA\tns1.example.net. hostmaster.example.net. ( 2024010100 3600 900 1209600 3600 )
@\tIN\tNS\tns1.example.net.
www\tIN\tA\t192.0.2.10
"""
