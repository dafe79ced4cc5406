"""Hosting lesson 8: DNS and WWW never on the same host.

Two kinds of evidence, either is enough:

- one machine (`hostview.hosts`: every spelling of it joined through the stack's DNS data and
  the gateway's DNAT) runs a DNS server — it receives a BIND config or zone file, or a
  command installs or starts one (bind9/named, nsd, knot, pdns) — and a web server, in any
  dialect: it receives nginx, Apache, Caddy or lighttpd config, or a command installs or
  starts one (`apt-get install -y apache2`, `systemctl enable --now nginx`; read by
  `hostview.webview`);
- the DNS data puts a name server (an NS target's address) and a web name (www, webmail, a
  zone's apex, a name a delivered site serves) on the same address, directly or through the
  gateway's DNAT of that public address to a machine that has the other role.

A command the shell reader could not fully read, on a DNS machine, may install a web server
the pack does not see: not judged, with a note.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import values
from hostview import evidence, gatewayview, stackview, webview
from hostview import hosts as hostmap
from pulumi_policy import Severity

from rules.kit import MANDATORY, Finding, NotApplicable, Note, Outcome, declare

WEB_LABELS = ("www", "webmail")
DNS_PACKAGES = {"bind9": "bind9", "bind": "bind", "nsd": "nsd", "knot": "knot", "pdns-server": "pdns-server"}
DNS_SERVICES = {"named", "bind9", "nsd", "knot", "pdns"}
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


def web_names(view: stackview.StackView) -> dict[str, str]:
    """name -> why it is a web name: zone apexes, www/webmail of each zone, names delivered sites serve."""
    names: dict[str, str] = {}
    for zone in view.zones:
        if zone.endswith(".arpa"):
            continue
        names.setdefault(zone, f"apex of zone {zone}")
        for label in WEB_LABELS:
            names.setdefault(f"{label}.{zone}", f"{label} of zone {zone}")
    for machine in hostmap.of(view):
        for served in webview.of(view, machine).sites:
            for name in served.site.exact_names:
                names.setdefault(name, f"server name in {served.label}")
    return names


def dns_side(machine: hostmap.Host) -> tuple[list[evidence.HostFile], list[tuple[str, str]]]:
    """(DNS server files, (what a command does, its urn)) of one machine."""
    files = machine.of_kind(*evidence.DNS_KINDS)
    commands = []
    for command in machine.commands:
        facts = webview.command_facts(command)
        for package in facts.packages:
            if package in DNS_PACKAGES:
                commands.append((f"installs {package} ({command.label})", command.urn))
        for unit in facts.services:
            if unit.removesuffix(".service") in DNS_SERVICES:
                commands.append((f"starts {unit.removesuffix('.service')} ({command.label})", command.urn))
    return files, list(dict(commands).items())


# The shell reader's notes that may hide an installation or a started service (a line it could not read,
# package names or a command known only at run time); a file written to a run-time path hides neither.
_HIDING = ("package", "could not", "nothing from line", "nothing past", "the rest is not judged", "nested deeper",
           "runs ", "eval of", "not installed")


def _may_hide_a_server(note: str) -> bool:
    return any(word in note for word in _HIDING) and "writes to" not in note


def _shown(f: evidence.HostFile) -> str:
    """A web config file for messages, with its dialect where the path does not say it."""
    hints = {"apache": ("apache", "httpd"), "nginx": ("nginx",), "caddy": ("caddy",), "lighttpd": ("lighttpd",)}
    evident = any(h in f.path.lower() for h in hints.get(f.kind, (f.kind,)))
    return f.path if evident else f"{f.path} ({f.kind})"


def _cohosted(machine: hostmap.Host, dns_files: list[evidence.HostFile], dns_commands: list[tuple[str, str]],
              servers: tuple[webview.WebServer, ...]) -> Finding:
    web_files = [f for server in servers for f in server.files]
    web_commands = [c for server in servers for c in server.commands]
    dns_text = []
    if dns_files:
        dns_text.append(f"receives a DNS server config ({', '.join(f.path for f in dns_files)})")
    dns_text += [what for what, _ in dns_commands]
    web_text = []
    if web_files:
        verb = "" if dns_text == dns_text[:1] and dns_files else "receives "
        web_text.append(f"{verb}a web server config ({', '.join(_shown(f) for f in web_files)})")
    web_text += web_commands
    urn = next((s.urn for s in servers if s.urn), None) or (dns_files[0].urn if dns_files else dns_commands[0][1])
    return Finding(f"host {machine.label} {' and '.join(dns_text)} and {' and '.join(web_text)}; DNS and WWW "
                   "must run on different hosts", urn)


@declare(
    "dns-not-cohosted-with-web", lesson=8, level=MANDATORY, severity=Severity.HIGH,
    description="No host and no address serves both DNS and the web.",
    remediation="Give the name servers (NS targets) their own hosts and addresses; point www, webmail and zone "
                "apexes at web hosts that receive no named.conf or zone file and install no web server.",
    url="https://www.rfc-editor.org/rfc/rfc2182#section-3.1",
    tags=["dns", "web", "lesson-8"],
)
def cohosting_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    judged = False
    reported: set[str] = set()  # machines already named (by their key)
    machine_of: dict[str, hostmap.Host] = {}
    dns_machines: list[tuple[hostmap.Host, str]] = []
    web_machines: list[tuple[hostmap.Host, str]] = []
    for machine in hostmap.of(view):
        if not machine.key:
            continue
        for address in machine.addresses:
            machine_of.setdefault(address, machine)
        dns_files, dns_commands = dns_side(machine)
        servers = webview.of(view, machine).servers
        if dns_files or dns_commands:
            what = f"DNS config {dns_files[0].label}" if dns_files else dns_commands[0][0]
            dns_machines.append((machine, what))
        if servers:
            first = next((f for s in servers for f in s.files), None)
            web_machines.append((machine, f"web config {first.label}" if first else servers[0].commands[0]))
        if (dns_files or dns_commands) and servers:
            reported.add(machine.key)
            yield _cohosted(machine, dns_files, dns_commands, servers)
        elif dns_files or dns_commands:
            unread = [n for c in machine.commands for n in webview.command_facts(c).notes if _may_hide_a_server(n)]
            if unread:
                yield Note(f"{machine.label} runs DNS; whether its commands also install a web server is not "
                           f"judged: {unread[0]}")
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
    for machine, what in dns_machines:
        for address in _spelled_addresses(view, machine):
            ns_at[address].append(what)
    for machine, what in web_machines:
        for address in _spelled_addresses(view, machine):
            web_at[address].append(what)
    judged = judged or bool(dns_machines) or bool(web_machines)
    for address in sorted(set(ns_at) & set(web_at)):
        machine = machine_of.get(address)
        if machine is not None and machine.key in reported:
            continue
        if machine is not None:
            reported.add(machine.key)
        dns_text = "; ".join(dict.fromkeys(ns_at[address]))
        web_text = "; ".join(dict.fromkeys(web_at[address]))
        yield Finding(f"address {address} serves DNS ({dns_text}) and web ({web_text}); DNS and WWW must be on "
                      "different hosts")
    if not judged:
        yield NotApplicable("the stack has no name server records and delivers no DNS or web server config")


def _spelled_addresses(view: stackview.StackView, machine: hostmap.Host) -> list[str]:
    """The addresses a machine's connections spell (an address, or a name's A/AAAA in the stack)."""
    out: list[str] = []
    for spelling in machine.spellings:
        if gatewayview.address_of(spelling) is not None:
            out.append(str(gatewayview.address_of(spelling)))
        else:
            out += view.addresses(spelling)
    return list(dict.fromkeys(out))
