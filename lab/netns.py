"""Namespaces and veth links: create what the topology says (idempotently), remove all of it again.

Every `ip` command names its namespace (`ip -n NS ...`); a veth is created inside one of the
lab's namespaces with its peer placed straight into the other, so nothing is ever created in,
attached to, or routed towards the machine's own network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

from lab.settings import LabError
from lab.system import run
from lab.topology import LabHost, Topology


def list_namespaces() -> list[str]:
    result = run(["ip", "-j", "netns", "list"], check=False)
    try:
        return [entry["name"] for entry in json.loads(result.stdout or "[]")]
    except ValueError:
        return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def _links(namespace: str) -> dict[str, dict]:
    result = run(["ip", "-n", namespace, "-j", "link", "show"])
    return {entry["ifname"]: entry for entry in json.loads(result.stdout or "[]")}


def ensure_namespaces(topology: Topology) -> list[str]:
    """Create missing namespaces, links, addresses and routes; return what was created."""
    created: list[str] = []
    existing = set(list_namespaces())
    for host in topology.hosts:
        if not host.namespace.startswith(topology.namespace_prefix):
            raise LabError(f"refusing namespace {host.namespace}: lab namespaces begin {topology.namespace_prefix}")
        if host.namespace not in existing:
            run(["ip", "netns", "add", host.namespace])
            created.append(host.namespace)
        run(["ip", "-n", host.namespace, "link", "set", "lo", "up"])
    for host in topology.hosts:
        for interface in host.interfaces:
            if interface.kind == "bridge" and interface.name not in _links(host.namespace):
                run(["ip", "-n", host.namespace, "link", "add", interface.name, "type", "bridge"])
                created.append(f"{host.namespace}:{interface.name}")
    for (ns_a, if_a), (ns_b, if_b) in topology.links:
        have_a, have_b = if_a in _links(ns_a), if_b in _links(ns_b)
        if have_a and have_b:
            continue
        # A half-made pair (an earlier run interrupted) is removed and made again.
        for ns, name, have in ((ns_a, if_a, have_a), (ns_b, if_b, have_b)):
            if have:
                run(["ip", "-n", ns, "link", "del", name])
        run(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b])
        created.append(f"{ns_a}:{if_a}<->{ns_b}:{if_b}")
    for host in topology.hosts:
        _configure(host)
        _verify(host)
    return created


def _verify(host: LabHost) -> None:
    """The inventory states what is really configured: every planned address is up where planned."""
    shown = json.loads(run(["ip", "-n", host.namespace, "-j", "addr", "show"]).stdout or "[]")
    present = {(entry["ifname"], f"{a['local']}/{a['prefixlen']}")
               for entry in shown for a in entry.get("addr_info", [])}
    up = {entry["ifname"] for entry in shown if "UP" in entry.get("flags", [])}
    for interface in host.interfaces:
        missing = [a for a in interface.addresses if (interface.name, a) not in present]
        if missing or interface.name not in up:
            raise LabError(f"{host.namespace}: {interface.name} is not up with {missing or interface.addresses}")


def _configure(host: LabHost) -> None:
    ns = host.namespace
    for interface in host.interfaces:
        if interface.master:
            run(["ip", "-n", ns, "link", "set", interface.name, "master", interface.master])
        for address in interface.addresses:
            run(["ip", "-n", ns, "addr", "replace", address, "dev", interface.name])
        run(["ip", "-n", ns, "link", "set", interface.name, "up"])
    # Only the gateway forwards (IPv6: link-local addresses only, never forwarded).
    run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv4.ip_forward={int(host.forwarding)}",
         "net.ipv6.conf.all.forwarding=0"])
    for route in host.routes:
        run(["ip", "-n", ns, "route", "replace", *route.argv()])


def namespace_pids(namespace: str) -> list[int]:
    result = run(["ip", "netns", "pids", namespace], check=False)
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def kill_namespace_processes(namespace: str, grace: float = 3.0) -> list[int]:
    """SIGTERM every process in `namespace`, then SIGKILL what is left after `grace` seconds."""
    pids = namespace_pids(namespace)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and namespace_pids(namespace):
        time.sleep(0.1)
    for pid in namespace_pids(namespace):
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and namespace_pids(namespace):
        time.sleep(0.05)
    left = namespace_pids(namespace)
    if left:
        raise LabError(f"processes {left} in {namespace} survived SIGKILL")
    return pids


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def remove_namespaces(prefix: str) -> list[str]:
    """Kill every process in, and delete, every namespace whose name starts with `prefix`."""
    if not prefix.startswith("isp-") or len(prefix) < 6:
        raise LabError(f"refusing to remove namespaces by the prefix {prefix!r}")
    removed = []
    for namespace in list_namespaces():
        if namespace.startswith(prefix):
            kill_namespace_processes(namespace)
            run(["ip", "netns", "del", namespace])
            removed.append(namespace)
    return removed
