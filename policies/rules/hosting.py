"""Hosting lesson 8: DNS and WWW never on the same host.

Two kinds of evidence, either is enough: one host (connection.host) receives both a DNS
server config (named.conf*, zone files) and a web server config (nginx/apache); or the
DNS data puts a name server (an NS target's address) and a web name (www, webmail, a
zone's apex, an nginx/apache server name) on the same address, directly or through the
gateway's dnat of that public address to a host that gets the other role's files.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import values
from hostview import evidence, gatewayview, stackview
from pulumi_policy import Severity

from rules.kit import MANDATORY, Finding, NotApplicable, Outcome, declare

WEB_LABELS = ("www", "webmail")
_SERVER_NAME = re.compile(r"^\s*(?:server_name|ServerName|ServerAlias)\s+([^;#\n]+)", re.MULTILINE | re.IGNORECASE)


def server_names(text: str) -> list[str]:
    """Names an nginx/apache config serves (exact names only; wildcards and regexes skipped)."""
    names = []
    for match in _SERVER_NAME.finditer(text):
        for name in match.group(1).split():
            name = name.strip().strip('"').rstrip(";")
            if name and not name.startswith(("~", "*", "_")) and "." in name and "*" not in name:
                names.append(values.norm_name(name))
    return names


def _host_addresses(view: stackview.StackView, host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return view.addresses(host) if host else []


def web_names(view: stackview.StackView) -> dict[str, str]:
    """name -> why it is a web name."""
    names: dict[str, str] = {}
    for zone in view.zones:
        if zone.endswith(".arpa"):
            continue
        names.setdefault(zone, f"apex of zone {zone}")
        for label in WEB_LABELS:
            names.setdefault(f"{label}.{zone}", f"{label} of zone {zone}")
    for f in view.files_of_kind(*evidence.WEB_KINDS):
        for name in server_names(f.text or ""):
            names.setdefault(name, f"server name in {f.label}")
    return names


@declare(
    "dns-not-cohosted-with-web", lesson=8, level=MANDATORY, severity=Severity.HIGH,
    description="No host and no address serves both DNS and the web.",
    remediation="Give the name servers (NS targets) their own hosts and addresses; point www, webmail and zone "
                     "apexes at web hosts that receive no named.conf or zone file.",
    url="https://www.rfc-editor.org/rfc/rfc2182#section-3.1",
    tags=["dns", "web", "lesson-8"],
)
def cohosting_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    judged = False
    hosts = view.hosts()
    dns_hosts: dict[str, evidence.HostFile] = {}
    web_hosts: dict[str, evidence.HostFile] = {}
    for host, files in hosts.items():
        if not host:
            continue
        dns_file = next((f for f in files if f.kind in evidence.DNS_KINDS), None)
        web_file = next((f for f in files if f.kind in evidence.WEB_KINDS), None)
        if dns_file:
            dns_hosts[host] = dns_file
        if web_file:
            web_hosts[host] = web_file
        if dns_file and web_file:
            yield Finding(f"host {host} receives a DNS server config ({dns_file.path}) and a web server config "
                          f"({web_file.path}); DNS and WWW must run on different hosts", web_file.urn)
    # Addresses: what the Internet sees, and where the gateway forwards it.
    forwarded = gatewayview.dnat_map(view)

    def reach(addresses: list[str]) -> set[str]:
        out = set(addresses)
        for address in addresses:
            out |= forwarded.get(address, set())
        return out

    ns_at: dict[str, list[str]] = defaultdict(list)
    for fact in view.of_type("NS"):
        target = fact.rec.value
        if not view.visible(target):
            continue
        judged = True
        for address in reach(view.addresses(target)):
            ns_at[address].append(f"name server {target} (NS of {fact.rec.name})")
    web_at: dict[str, list[str]] = defaultdict(list)
    for name, why in web_names(view).items():
        for address in reach(view.addresses(name)):
            web_at[address].append(f"{name} ({why})")
    for host, f in dns_hosts.items():
        for address in _host_addresses(view, host):
            ns_at[address].append(f"DNS config {f.label}")
    for host, f in web_hosts.items():
        for address in _host_addresses(view, host):
            web_at[address].append(f"web config {f.label}")
    judged = judged or bool(dns_hosts) or bool(web_hosts)
    reported_hosts = {h for h in dns_hosts if h in web_hosts}
    for address in sorted(set(ns_at) & set(web_at)):
        if address in reported_hosts:
            continue
        dns_side = "; ".join(dict.fromkeys(ns_at[address]))
        web_side = "; ".join(dict.fromkeys(web_at[address]))
        yield Finding(f"address {address} serves DNS ({dns_side}) and web ({web_side}); DNS and WWW must be on "
                      "different hosts")
    if not judged:
        yield NotApplicable("the stack has no name server records and delivers no DNS or web server config")
