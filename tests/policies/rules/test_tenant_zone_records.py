"""A customer zone's hand-written Cloudflare records never turn into a violation on the ISP's own hosts.

A customer writes, in their own zone, records named like ours (`mail.example.net`, `www.example.net`,
`example.net`). Cloudflare appends the zone's name to a name that does not end in it, so they are
`mail.example.net.customer.org` and so on: they speak for no name of ours, and FCrDNS, SPF and
DNS-beside-web judge our hosts exactly as without them. The same records in our own zone are ours, and
each rule sees them (so the stack below is sensitive to them).
"""

from __future__ import annotations

import pytest
from pack_builders import copy_file, record, run, view_of, zone
from rules import dns as dns_rules
from rules import hosting as hosting_rules
from rules import mail as mail_rules

NAMED = 'options { directory "/var/cache/bind"; recursion no; };\n'
NGINX = "server {\n    listen 80;\n    server_name www.example.net example.net;\n    root /var/www;\n}\n"
RULES = [mail_rules.fcrdns_findings, dns_rules.spf_findings, hosting_rules.cohosting_findings]
# What a customer writes: an A for our mail host's name at their own server, our www at an address of
# theirs that happens to be our name server's, and a second SPF for our domain.
HOSTILE = [("mail.example.net", "A", "192.0.2.99"), ("www.example.net", "A", "203.0.113.53"),
           ("example.net", "TXT", "v=spf1 -all"), ("MAIL.Example.NET.", "AAAA", "2001:db8::99")]


def isp_stack(*extra):
    ours, reverse = zone("example.net"), zone("113.0.203.in-addr.arpa")
    return [ours, reverse,
            record("example.net", "MX", "mail.example.net", 10, zone_resource=ours),
            record("mail.example.net", "A", "203.0.113.25", zone_resource=ours),
            record("example.net", "TXT", "v=spf1 mx -all", zone_resource=ours),
            record("example.net", "NS", "ns1.example.net", zone_resource=ours),
            record("ns1.example.net", "A", "203.0.113.53", zone_resource=ours),
            record("example.net", "A", "203.0.113.80", zone_resource=ours),
            record("www", "CNAME", "example.net", zone_resource=ours),
            record("25", "PTR", "mail.example.net", zone_resource=reverse),
            copy_file("10.0.0.53", "/etc/bind/named.conf", NAMED),
            copy_file("10.0.2.80", "/etc/nginx/sites-available/example.net", NGINX),
            *extra], ours


def findings(rule, resources) -> list[str]:
    return run(rule, view_of(*resources))[0]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_isp_stack_alone_passes(rule) -> None:
    assert findings(rule, isp_stack()[0]) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_a_customer_zone_naming_our_hosts_changes_no_verdict_on_them(rule) -> None:
    customer = zone("customer.org")
    records = [record(name, rtype, content, zone_resource=customer, resource_name=f"customer-{i}")
               for i, (name, rtype, content) in enumerate(HOSTILE)]
    resources, _ = isp_stack(customer, *records)
    assert findings(rule, resources) == []
    view = view_of(*resources)
    assert view.addresses("mail.example.net") == ["203.0.113.25"]
    assert view.addresses("mail.example.net.customer.org") == ["192.0.2.99", "2001:db8::99"]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_same_records_in_our_own_zone_are_judged(rule) -> None:
    resources, ours = isp_stack()
    records = [record(name, rtype, content, zone_resource=ours, resource_name=f"ours-{i}")
               for i, (name, rtype, content) in enumerate(HOSTILE)]
    assert findings(rule, [*resources, *records]) != []
