"""Builders for the policy pack's tests.

The pack's modules are top-level imports inside `policies/` (the CLI runs the pack with
that directory first on sys.path), so the tests put it there too. Resources are built the
way the SDK builds them for a policy: engine wire form -> `deserialize_properties` ->
`unknown_checking_proxy` -> `PolicyResource`, so unknowns and secrets behave as in a
real `pulumi preview --policy-pack`.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

from hostview import evidence, stackview  # noqa: E402
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions  # noqa: E402
from pulumi_policy.deserialize import (  # noqa: E402  # noqa: E402
    SPECIAL_ASSET_SIG,
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    deserialize_properties,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy  # noqa: E402
from rules import kit as rulekit  # noqa: E402

UNKNOWN = UNKNOWN_STRING_VALUE
SIG = SPECIAL_SIG_KEY
SECRET = SPECIAL_SECRET_SIG
ASSET = SPECIAL_ASSET_SIG
PROJECT = "isp"


def urn(stack: str, rtype: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{rtype}::{name}"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource(rtype: str, name: str, wire_props: dict[str, Any], stack: str = "dev", protect: bool = False,
             zone: PolicyResource | None = None) -> PolicyResource:
    """A PolicyResource as AnalyzeStack hands it to a stack policy."""
    props = unknown_checking_proxy(deserialize_properties(wire_props))
    res = PolicyResource(rtype, props, urn(stack, rtype, name), name, options(protect), None, None, [], {})
    if zone is not None:
        res.dependencies.append(zone)
        res.property_dependencies["zoneId"] = [zone]
    return res


def zone(name: str, stack: str = "dev", protect: bool = False) -> PolicyResource:
    return resource("cloudflare:index/zone:Zone", name.replace(".", "-"),
                    {"name": name, "account": {"id": "0" * 32}, "type": "full", "id": UNKNOWN}, stack, protect)


def record(name: str, rtype: str, content: str, priority: int | None = None, stack: str = "dev",
           zone_resource: PolicyResource | None = None, resource_name: str | None = None) -> PolicyResource:
    props: dict[str, Any] = {"name": name, "type": rtype, "content": content, "ttl": 1, "zoneId": UNKNOWN,
                             "id": UNKNOWN}
    if priority is not None:
        props["priority"] = priority
    label = resource_name or f"{rtype.lower()}-{name}-{content}".replace(".", "-").replace(" ", "-")[:80]
    return resource("cloudflare:index/dnsRecord:DnsRecord", label, props, stack, zone=zone_resource)


def copy_file(host: str, remote_path: str, text: str, stack: str = "dev", name: str | None = None) -> PolicyResource:
    props = {
        "connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "not-a-real-key"}},
        "source": {SIG: ASSET, "text": text},
        "remotePath": remote_path,
    }
    label = name or f"{host}-{remote_path}".replace("/", "-").replace(".", "-")
    return resource("command:remote:CopyToRemote", label, props, stack)


def component(rtype: str, name: str, props: dict[str, Any], stack: str = "dev") -> PolicyResource:
    return resource(rtype, name, props, stack)


def view_of(*resources: PolicyResource) -> stackview.StackView:
    return stackview.build_view([evidence.raw_resource(r) for r in resources])


def run(rule, subject, config: dict | None = None) -> tuple[list[str], str | None]:
    """(finding messages, not-applicable reason) of a declared rule, through the wrapper's own runner,
    with its typed config built from `config` (camelCase keys, as the engine sends them)."""
    declaration = rule.declaration
    typed = rulekit.typed_config(declaration.config, config or {})
    findings, skipped = rulekit.run_rule(rule, subject, typed, declaration.id)
    return [f.message for f in findings], (skipped.reason if skipped else None)


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def named_checkconf(text: str) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(text)
    try:
        return subprocess.run([tool("named-checkconf"), handle.name], capture_output=True, text=True, timeout=60)
    finally:
        Path(handle.name).unlink()


def pem(names: list[str] | None, common_name: str = "webmail.example.net", days: tuple[int, int] = (-1, 90)) -> str:
    """A self-signed certificate (PEM) for `names` (SAN; None: no SAN), valid from days[0] to days[1] from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1])))
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
