"""Synthetic stack configs of a given size, shaped like a growing ISP's, that pass validation.

A size is four numbers: customer zones, records per zone, hosts and /16 customer pools.
The stack is compliant (the policy pack finds nothing to block), so the pack does all of its
work on it: every zone has an MX to our mail hosts, SPF and DMARC, A/AAAA/CNAME/TXT/CAA
records; the hosts are a gateway, name servers, mail, web and database hosts; every pool is
a /16 (one reverse zone and 256 `$GENERATE` lines each, never 65,536 resources).

The customer zones live in a file of their own (`isp:zonesFrom`), as a large ISP's should: the
CLI hands a program its whole stack config in one environment variable, which Linux caps at
128 KiB, and 400 zones of 35 records are about a megabyte.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

DOMAIN = "example.net"
SERVERS = ipaddress.ip_network("10.0.0.0/16")
PUBLIC_V4 = ipaddress.ip_network("198.51.100.0/24")
PUBLIC_V6 = ipaddress.ip_network("2001:db8:100::/48")
# Customer /16s are carved from the CGNAT space (RFC 6598): 100.64.0.0/16, 100.65.0.0/16, ...
POOL_BASE = ipaddress.ip_network("100.64.0.0/10")
POOL_KINDS = ("broadband", "dialup", "business")
ACCOUNT_ID = "3f2b9c4e8a7d4b1c9e0f6a5b4c3d2e1f"


@dataclass(frozen=True)
class StackSize:
    """How big a synthetic stack is; `registered` is known only after a preview."""

    zones: int  # customer zones (the primary zone comes on top)
    records_per_zone: int
    hosts: int
    pools: int  # /16 customer pools

    @property
    def label(self) -> str:
        return f"z{self.zones}-r{self.records_per_zone}-h{self.hosts}-p{self.pools}"


def _roles(index: int, hosts: int) -> list[str]:
    """Host `index` of `hosts`: gateway, two+ name servers, mail, web, webmail, then databases."""
    name_servers = max(2, hosts // 12)
    mail_hosts = max(1, hosts // 10)
    web_hosts = max(1, hosts // 10)
    plan = ["gateway"] + ["dns"] * name_servers + ["mail"] * mail_hosts + ["web"] * web_hosts + ["webmail"]
    return [plan[index]] if index < len(plan) else ["db"]


def _host_name(role: str, ordinal: int) -> str:
    return {"gateway": "gw", "dns": "ns", "mail": "mail", "web": "www", "webmail": "webmail", "db": "db"}[role] + (
        str(ordinal) if role not in ("gateway", "webmail") else ""
    )


def hosts_config(count: int) -> list[dict[str, Any]]:
    if count < 6:
        raise ValueError("a synthetic stack needs at least 6 hosts (gateway, 2 dns, mail, web, webmail)")
    if count > 200:
        raise ValueError("at most 200 hosts fit the synthetic public /24")
    seen: dict[str, int] = {}
    out = []
    for i in range(count):
        roles = _roles(i, count)
        seen[roles[0]] = seen.get(roles[0], 0) + 1
        host: dict[str, Any] = {
            "name": _host_name(roles[0], seen[roles[0]]),
            "privateAddress": str(SERVERS.network_address + 10 + i),
            "roles": roles,
        }
        if roles != ["db"]:
            host["publicAddress"] = str(PUBLIC_V4.network_address + 10 + i)
            host["publicAddress6"] = str(PUBLIC_V6.network_address + 10 + i)
        out.append(host)
    return out


def pools_config(count: int) -> list[dict[str, Any]]:
    if count > 64:
        raise ValueError("at most 64 /16 pools fit 100.64.0.0/10")
    pools = []
    for i, prefix in zip(range(count), POOL_BASE.subnets(new_prefix=16), strict=False):
        pools.append({"name": f"pool{i + 1}", "prefix": str(prefix), "kind": POOL_KINDS[i % len(POOL_KINDS)]})
    return pools


def zone_records(index: int, count: int, mail_fqdns: list[str], web_address: str) -> list[dict[str, Any]]:
    """`count` records of customer zone `index`: apex and www on our web host, MX to our mail hosts, the rest
    A/AAAA/CNAME/TXT/CAA for the customer's own hosts."""
    records: list[dict[str, Any]] = [
        {"name": "@", "type": "A", "content": web_address},
        {"name": "www", "type": "CNAME", "content": f"www.{DOMAIN}"},
        {"name": "@", "type": "CAA", "content": '0 issue "letsencrypt.org"'},
    ]
    for preference, fqdn in enumerate(mail_fqdns[:2], start=1):
        records.append({"name": "@", "type": "MX", "content": fqdn, "priority": 10 * preference})
    kinds = ("A", "AAAA", "CNAME", "TXT")
    j = 0
    while len(records) < count:
        kind = kinds[j % len(kinds)]
        label = f"h{j}"
        if kind == "A":
            records.append({"name": label, "type": "A", "content": f"192.0.2.{(index + j) % 254 + 1}"})
        elif kind == "AAAA":
            records.append({"name": label, "type": "AAAA", "content": f"2001:db8:{index:x}::{j:x}"})
        elif kind == "CNAME":
            records.append({"name": label, "type": "CNAME", "content": f"h{j - 2}.customer{index}.example"})
        else:
            records.append({"name": label, "type": "TXT", "content": f"site-verification=c{index}h{j}", "ttl": 300})
        j += 1
    return records[:count]


# Generated, as a large ISP's list would be from its customer database: JSON (YAML's subset) reads
# in 10 ms where the same 900 KB as YAML take 0.7 s.
CUSTOMER_ZONES_FILE = "customer-zones.json"


def customer_zones(size: StackSize) -> list[dict[str, Any]]:
    """The customer zones of a synthetic stack of `size`: what `CUSTOMER_ZONES_FILE` holds."""
    hosts = hosts_config(size.hosts)
    mail_fqdns = [f"{h['name']}.{DOMAIN}" for h in hosts if "mail" in h["roles"]]
    web_address = next(h["publicAddress"] for h in hosts if "web" in h["roles"])
    return [
        {"name": f"customer{i}.example", "records": zone_records(i, size.records_per_zone, mail_fqdns, web_address)}
        for i in range(size.zones)
    ]


def stack_config(size: StackSize) -> dict[str, Any]:
    """The `isp:` keys (namespace left out) of a synthetic stack of `size`; its customer zones are read
    from `CUSTOMER_ZONES_FILE` in the project directory."""
    hosts = hosts_config(size.hosts)
    zones = [{"name": DOMAIN, "records": [{"name": "@", "type": "CAA", "content": '0 issue "letsencrypt.org"'}]}]
    return {
        "organization": {
            "name": "Synthetic Valley Internet",
            "domain": DOMAIN,
            "cloudflareAccountId": ACCOUNT_ID,
            "contactEmail": f"hostmaster@{DOMAIN}",
        },
        "networks": {
            "servers": [str(SERVERS)],
            "publicBlocks": [str(PUBLIC_V4), str(PUBLIC_V6)],
            "customerPools": pools_config(size.pools),
        },
        "hosts": hosts,
        "zones": zones,
        "zonesFrom": [CUSTOMER_ZONES_FILE] if size.zones else [],
        "mail": {"dailyLimitPerAccount": 150, "submissionPorts": [587, 465, 2525]},
        "protect": True,
    }


def stack_file(size: StackSize) -> dict[str, Any]:
    """The whole `Pulumi.<stack>.yaml` document: `isp:` keys plus the secrets, as placeholders."""
    config: dict[str, Any] = {
        "cloudflare:apiToken": {"secure": "v1:YmVuY2g=:YmVuY2gtY2xvdWRmbGFyZS10b2tlbg=="},
        "isp:sshPrivateKey": {"secure": "v1:YmVuY2g=:YmVuY2gtc3NoLWtleQ=="},
    }
    config.update({f"isp:{key}": value for key, value in stack_config(size).items()})
    return {"config": config}
