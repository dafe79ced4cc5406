"""The stack's DNS data agrees with itself: FCrDNS for every host, SPF for the mail hosts."""

from __future__ import annotations

import ipaddress
import re

import dns.name
import dns.rdatatype
import dns.zone
import pulumi
import pytest

from components.config import parse_stack_config
from components.dns_data import forward_zone_file, pool_zone_file, reverse_zones, spf_record, zone_records
from components.dns_zone import DnsZone, DnsZoneArgs
from components.render.bind import ZONE_SERIAL_PLACEHOLDER
from tests.components.clock import run_moved
from tests.conftest import require_tool, run_tool, stack_values


def _bind_answers(cfg) -> dict[tuple[str, str], set[str]]:
    """Every PTR and A in our BIND zone files, $GENERATE expanded by dnspython."""
    answers: dict[tuple[str, str], set[str]] = {}
    files = [r.file for r in reverse_zones(cfg)]
    if pool := pool_zone_file(cfg):
        files.append(pool)
    for zone_file in files:
        zone = dns.zone.from_text(zone_file.text, origin=zone_file.zone, relativize=False)
        for name, rdataset in zone.iterate_rdatasets():
            for rdata in rdataset:
                key = (name.to_text().rstrip("."), dns.rdatatype.to_text(rdataset.rdtype))
                answers.setdefault(key, set()).add(rdata.to_text().rstrip("."))
    return answers


def test_every_public_host_has_fcrdns(prod_values):
    cfg = parse_stack_config(prod_values)
    bind = _bind_answers(cfg)
    forward = {}
    for zone in cfg.zones:
        for record in zone_records(cfg, zone):
            forward.setdefault((record.name, record.type), set()).add(record.content)
    for host in cfg.hosts:
        for address, rtype in ((host.public_address, "A"), (host.public_address6, "AAAA")):
            if address is None:
                continue
            ptr = bind[(address.reverse_pointer, "PTR")]
            assert ptr == {cfg.fqdn(host)}
            assert str(address) in forward[(cfg.fqdn(host), rtype)]


def test_customer_pool_names_resolve_back(prod_values):
    cfg = parse_stack_config(prod_values)
    bind = _bind_answers(cfg)
    for pool in cfg.networks.customer_pools:
        if pool.prefix.version != 4:
            continue
        for address in (pool.prefix[0], pool.prefix[-1]):
            (name,) = bind[(address.reverse_pointer, "PTR")]
            assert bind[(name, "A")] == {str(address)}


def test_unpublished_ptr_leaves_no_ptr(prod_values):
    mail = next(h for h in prod_values["hosts"] if h["name"] == "mail")
    mail["publishPtr"] = False
    cfg = parse_stack_config(prod_values)
    assert ("25.100.51.198.in-addr.arpa", "PTR") not in _bind_answers(cfg)


def test_spf_names_exactly_the_mail_hosts_and_costs_no_lookup(prod_values):
    cfg = parse_stack_config(prod_values)
    spf = spf_record(cfg)
    terms = spf.split()
    assert terms[0] == "v=spf1" and terms[-1] == "-all"
    assert not [t for t in terms if re.match(r"^[+\-~?]?(include|a|mx|ptr|exists|redirect)\b", t)]
    addresses = {ipaddress.ip_address(t.split(":", 1)[1]) for t in terms if t.startswith(("ip4:", "ip6:"))}
    assert addresses == {a for h in cfg.hosts_with("mail") for a in (h.public_address, h.public_address6) if a}


def test_zone_records_one_spf_and_dmarc_per_zone(prod_values):
    cfg = parse_stack_config(prod_values)
    for zone in cfg.zones:
        records = zone_records(cfg, zone)
        spf = [r for r in records if r.type == "TXT" and r.name == zone.name and r.content.startswith("v=spf1")]
        assert len(spf) == 1
        dmarc = [r for r in records if r.name == f"_dmarc.{zone.name}"]
        assert len(dmarc) == 1 and dmarc[0].content.startswith("v=DMARC1; p=reject")
        assert all(r.name == zone.name or r.name.endswith("." + zone.name) for r in records)


def test_zone_without_mail_says_so(dev_values):
    dev_values["zones"].append({"name": "example.com"})
    cfg = parse_stack_config(dev_values)
    records = zone_records(cfg, cfg.zones[1])
    assert [r.content for r in records if r.type == "TXT" and r.name == "example.com"] == ["v=spf1 -all"]


def test_user_spf_is_not_doubled(dev_values):
    dev_values["zones"][0]["records"] = [{"name": "@", "type": "TXT", "content": "v=spf1 mx -all"}]
    cfg = parse_stack_config(dev_values)
    spf = [r for r in zone_records(cfg, cfg.zones[0]) if r.content.startswith("v=spf1")]
    assert [r.content for r in spf] == ["v=spf1 mx -all"]


_ZONE_TEXTS = """
import json
from components.config import parse_stack_config
from components.dns_data import forward_zone_file, pool_zone_file, reverse_zones
from tests.conftest import stack_values
cfg = parse_stack_config(stack_values("lab"))  # the lab's BIND serves its forward zones too
files = [r.file for r in reverse_zones(cfg)] + [pool_zone_file(cfg)] + [forward_zone_file(cfg, z) for z in cfg.zones]
print(json.dumps({f.path: f.text for f in files}))
"""


def test_zone_files_are_the_same_on_any_day():
    """Rendered today and a year later (another time zone, another hash seed): byte for byte the same files,
    each with the placeholder serial that the host replaces at delivery."""
    import json

    now = json.loads(run_moved(_ZONE_TEXTS, days=0))
    later = json.loads(run_moved(_ZONE_TEXTS, days=365.6, tz="America/Los_Angeles", hash_seed=7))
    assert now == later
    assert len(now) >= 4  # reverse, pool and forward zones
    for text in now.values():
        assert f"( {ZONE_SERIAL_PLACEHOLDER} 3600 900 1209600 3600 )" in text


def _with_zone(values: dict, zone: dict):
    values["zones"].append(zone)
    cfg = parse_stack_config(values)
    return cfg, cfg.zones[-1]


def test_a_zone_without_mx_gets_the_null_mx(dev_values):
    """RFC 7505 §3: one MX, preference 0, exchange the root; beside it the SPF and DMARC of a zone that sends none."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [{"name": "@", "type": "A",
                                                                           "content": "192.0.2.80"}]})
    records = zone_records(cfg, zone)
    assert [(r.name, r.content, r.priority) for r in records if r.type == "MX"] == [("example.com", ".", 0)]
    assert [r.content for r in records if r.type == "TXT" and r.name == "example.com"] == ["v=spf1 -all"]
    assert [r.content for r in records if r.name == "_dmarc.example.com"] == ["v=DMARC1; p=reject"]


@pytest.mark.parametrize("mx", [
    {"name": "@", "type": "MX", "content": "mail.example.org", "priority": 10},
    {"name": "example.com.", "type": "MX", "content": "mx.other-provider.example.", "priority": 5},
])
def test_a_zone_with_its_own_mx_gets_no_null_mx(dev_values, mx):
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [mx]})
    assert [r.content for r in zone_records(cfg, zone) if r.type == "MX"] == [mx["content"].rstrip(".")]


def test_an_mx_below_the_apex_leaves_the_apex_without_mail(dev_values):
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [
        {"name": "lists", "type": "MX", "content": "mail.example.org", "priority": 10}]})
    mx = sorted((r.name, r.content, r.priority) for r in zone_records(cfg, zone) if r.type == "MX")
    assert mx == [("example.com", ".", 0), ("lists.example.com", "mail.example.org", 10)]


def test_the_isp_domain_gets_its_mail_hosts_mx_never_the_null_mx(prod_values):
    cfg = parse_stack_config(prod_values)
    primary = next(z for z in cfg.zones if z.name == cfg.organization.domain)
    mx = [(r.content, r.priority) for r in zone_records(cfg, primary) if r.type == "MX"]
    assert mx == [(cfg.fqdn(h), 10 * i) for i, h in enumerate(cfg.hosts_with("mail"), start=1)]
    # Not even where the config (unvalidated here) lists no mail host: our domain is never said to take no mail.
    mailless = cfg.model_copy(update={"hosts": [h for h in cfg.hosts if "mail" not in h.roles]})
    assert [r for r in zone_records(mailless, primary) if r.type == "MX"] == []


def test_every_repo_zone_without_mail_has_exactly_the_null_mx():
    """Across the repo's stacks: a forward zone has the null MX alone, or mail exchangers and no null MX."""
    for stack in ("prod", "dev", "lab"):
        cfg = parse_stack_config(stack_values(stack))
        for zone in cfg.zones:
            apex = [(r.content, r.priority) for r in zone_records(cfg, zone) if r.type == "MX" and r.name == zone.name]
            assert apex, (stack, zone.name)
            assert apex == [(".", 0)] or (".", 0) not in apex, (stack, zone.name)


def test_the_null_mx_reaches_cloudflare_as_the_root_with_preference_zero(mocks, dev_values):
    """Cloudflare's MX: content is the mail server's name, "." for the null MX, and priority 0."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com"})

    @pulumi.runtime.test
    def run():
        args = DnsZoneArgs(zone=zone.name, account_id="0" * 32, records=zone_records(cfg, zone))
        return DnsZone(zone.name, args).zone.id

    run()
    mx = [r.inputs for r in mocks.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord"
          and r.inputs["type"] == "MX"]
    assert [(m["name"], m["content"], m["priority"]) for m in mx] == [("example.com", ".", 0)]


def test_the_null_mx_zone_file_loads_in_bind_as_preference_zero_to_the_root(tmp_path, dev_values):
    """BIND's own reading (named-checkzone -D) of our forward zone file, parsed by dnspython: MX 0 ."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [{"name": "www", "type": "A",
                                                                           "content": "192.0.2.80"}]})
    zone_file = forward_zone_file(cfg, zone)
    path = tmp_path / "db.example.com"
    path.write_text(zone_file.text)
    loaded = run_tool(require_tool("named-checkzone"), "-D", "-o", "-", "example.com", str(path))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    parsed = dns.zone.from_text(loaded.stdout, origin="example.com", relativize=False)
    (mx,) = parsed.find_rdataset("example.com.", dns.rdatatype.MX)  # one MX: RFC 7505 §3
    assert (mx.preference, mx.exchange) == (0, dns.name.root)
