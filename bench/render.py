"""Micro-benchmark of the render functions: each at a size n and 4n, with the scaling exponent.

- a zone file of 2,500 and 10,000 records (`render_zone_file`);
- a customer pool's reverse zone and forward pool zone (`dns_data.reverse_zones` and
  `pool_zone_file`), for a /18 and a /16: `$GENERATE` lines per /24, never one line or
  resource per address;
- the gateway's nftables ruleset (`render_gateway_ruleset`) for 250 and 1,000 customer pools,
  a quarter of them dial-up;
- named.conf (`render_named_conf`) for 250 and 1,000 zones.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any

from bench.generate import StackSize, stack_config
from components.config import parse_stack_config
from components.dns_data import pool_zone_file, reverse_zones
from components.render.bind import ZoneEntry, ZoneRecord, render_named_conf, render_zone_file
from components.render.nftables import render_gateway_ruleset

REPEATS = 3


def _best_seconds(work: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of a few runs (a micro-benchmark: the minimum is the least disturbed)."""
    best, result = math.inf, None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def zone_records(count: int) -> list[ZoneRecord]:
    kinds = [
        lambda i: ZoneRecord(f"h{i}", "A", f"192.0.2.{i % 254 + 1}"),
        lambda i: ZoneRecord(f"h{i}", "AAAA", f"2001:db8::{i:x}"),
        lambda i: ZoneRecord(f"c{i}", "CNAME", f"h{i}.example.net."),
        lambda i: ZoneRecord(f"t{i}", "TXT", f"site-verification=record-{i}"),
        lambda i: ZoneRecord(f"m{i}", "MX", f"10 mail{i % 4}.example.net."),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


def render_zone(count: int) -> Callable[[], str]:
    records = zone_records(count)
    return lambda: render_zone_file(origin="example.net", primary_ns="ns1.example.net",
                                    hostmaster="hostmaster@example.net",
                                    nameservers=["ns1.example.net", "ns2.example.net"], records=records)


def pool_zones(prefix: str) -> Callable[[], str]:
    values = stack_config(StackSize(zones=0, records_per_zone=0, hosts=8, pools=0))
    values["networks"]["customerPools"] = [{"name": "pool", "prefix": prefix, "kind": "broadband"}]
    cfg = parse_stack_config(values)

    def render() -> str:
        texts = [zone.file.text for zone in reverse_zones(cfg) if zone.has_pools]
        pool_zone = pool_zone_file(cfg)
        return "".join(texts) + (pool_zone.text if pool_zone else "")

    return render


def ruleset(pools: int) -> Callable[[], str]:
    prefixes = [str(p) for p in list(ipaddress.ip_network("100.64.0.0/10").subnets(new_prefix=22))[:pools]]
    dialup = [str(next(ipaddress.ip_network(p).subnets(new_prefix=24))) for p in prefixes[: pools // 4]]
    return lambda: render_gateway_ruleset(
        wan_interface="eth0", lan_interfaces=["eth1", "eth2"], customer_pools=prefixes,
        server_networks=["10.20.0.0/24"], mail_hosts=[("10.20.0.25", "198.51.100.25")],
        public_address="198.51.100.1", ssh_management_networks=["10.20.0.0/24"], dialup_pools=dialup,
    )


def named_conf(zones: int) -> Callable[[], str]:
    entries = [ZoneEntry(f"customer{i}.example", f"/etc/bind/zones/db.customer{i}.example") for i in range(zones)]
    return lambda: render_named_conf(own_networks=["198.51.100.0/24"], recursion_clients=["198.51.100.0/24"],
                                     transfer_peers=["10.20.0.12"], zones=entries)


CASES: list[tuple[str, str, Callable[[Any], Callable[[], str]], Any, Any, float]] = [
    # name, unit, builder, small, large, large/small in units
    ("zone file", "records", render_zone, 2_500, 10_000, 4.0),
    ("customer pool zones", "pool", pool_zones, "100.64.0.0/18", "100.64.0.0/16", 4.0),
    ("gateway ruleset", "pools", ruleset, 250, 1_000, 4.0),
    ("named.conf", "zones", named_conf, 250, 1_000, 4.0),
]


def run() -> list[dict[str, Any]]:
    results = []
    for name, unit, builder, small, large, ratio in CASES:
        small_seconds, small_text = _best_seconds(builder(small))
        large_seconds, large_text = _best_seconds(builder(large))
        results.append({
            "case": name,
            "unit": unit,
            "small": str(small),
            "large": str(large),
            "smallSeconds": small_seconds,
            "largeSeconds": large_seconds,
            "largeBytes": len(large_text),
            "largeLines": large_text.count("\n"),
            "slope": math.log(large_seconds / small_seconds) / math.log(ratio),
        })
    return results


if __name__ == "__main__":
    for row in run():
        print(f"{row['case']:22s} {row['small']:>14s} {row['smallSeconds'] * 1000:8.1f} ms  {row['large']:>14s} "
              f"{row['largeSeconds'] * 1000:8.1f} ms  {row['largeLines']:6d} lines  slope {row['slope']:.2f}")
