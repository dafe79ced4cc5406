"""DnsZone under mocks: a protected zone with DNSSEC and fully qualified records."""

from __future__ import annotations

import pulumi

from components.config import parse_stack_config
from components.dns_data import zone_records
from components.dns_zone import DnsZone, DnsZoneArgs


def _build(cfg, zone, protect):
    return DnsZone(
        zone.name,
        DnsZoneArgs(
            zone=zone.name,
            account_id=cfg.organization.cloudflare_account_id,
            records=zone_records(cfg, zone),
            protect=protect,
        ),
    )


def test_zone_records_dnssec_and_protect(mocks, prod_values):
    cfg = parse_stack_config(prod_values)
    zone = cfg.zones[0]

    @pulumi.runtime.test
    def run():
        return _build(cfg, zone, protect=True).zone.id

    run()
    by_type = {}
    for resource in mocks.resources:
        by_type.setdefault(resource.type, []).append(resource)
    (cf_zone,) = by_type["cloudflare:index/zone:Zone"]
    assert cf_zone.name == "example.net-zone" and cf_zone.protect is True
    assert cf_zone.inputs["name"] == "example.net"
    assert by_type["cloudflare:index/zoneDnssec:ZoneDnssec"][0].inputs["status"] == "active"
    records = by_type["cloudflare:index/dnsRecord:DnsRecord"]
    assert len(records) == len(zone_records(cfg, zone))
    assert all(r.inputs["name"].endswith("example.net") for r in records)
    assert all(r.name.startswith("example.net-") for r in records)
    assert len({r.name for r in records}) == len(records)
    mx = [r for r in records if r.inputs["type"] == "MX"]
    assert [(m.inputs["content"], m.inputs["priority"]) for m in mx] == [("mail.example.net", 10)]
    caa = next(r for r in records if r.inputs["type"] == "CAA")
    assert caa.inputs["data"] == {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}
    component = by_type["isp:dns:DnsZone"][0]
    assert all(r.parent.endswith("isp:dns:DnsZone::example.net") for r in records + [cf_zone])
    assert component.protect is False


def test_dev_zone_not_protected(mocks, dev_values):
    cfg = parse_stack_config(dev_values)

    @pulumi.runtime.test
    def run():
        return _build(cfg, cfg.zones[0], protect=cfg.protect).zone.id

    run()
    zones = [r for r in mocks.resources if r.type == "cloudflare:index/zone:Zone"]
    assert [z.protect for z in zones] == [False]
