"""The null MX written by hand (RFC 7505 §3): one MX, preference 0, exchange "." (the root), alone.

A refusal names the zone, the record (`isp:zones[i].records[j]`, or its file and index) and its rule.
"""

from __future__ import annotations

import pytest
import yaml

from components.config import parse_stack_config
from components.dns_data import zone_records
from tests.components.config.refusals import refusal

NULL_MX = {"name": "@", "type": "MX", "content": ".", "priority": 0}


def customer(prod_values: dict, *records: dict, name: str = "customer.org") -> dict:
    """prod has example.net (ours) and example.com: the customer zone is zones[2]."""
    prod_values["zones"].append({"name": name, "records": list(records)})
    return prod_values


def _mx(cfg, zone_index: int) -> list[tuple[str, str, int | None]]:
    return [(r.name, r.content, r.priority) for r in zone_records(cfg, cfg.zones[zone_index]) if r.type == "MX"]


@pytest.mark.parametrize("owner", ["@", "customer.org.", "customer.org"])
def test_a_hand_written_null_mx_is_kept_alone(prod_values, owner):
    """However the apex is spelled, the zone holds the operator's null MX once, and says it sends nothing."""
    cfg = parse_stack_config(customer(prod_values, {**NULL_MX, "name": owner}))
    assert [(content, priority) for _, content, priority in _mx(cfg, 2)] == [(".", 0)]
    spf = [r.content for r in zone_records(cfg, cfg.zones[2]) if r.type == "TXT" and r.content.startswith("v=spf1")]
    assert spf == ["v=spf1 -all"]  # a null MX is no mail host: not the mail hosts' SPF


def test_a_null_mx_below_the_apex_stands_beside_the_apex_mail(prod_values):
    """RFC 7505 speaks of a domain: nomail.customer.org may accept none while customer.org accepts mail."""
    cfg = parse_stack_config(customer(prod_values, {"name": "@", "type": "MX", "content": "mail.example.net",
                                                    "priority": 10}, {**NULL_MX, "name": "nomail"}))
    assert _mx(cfg, 2) == [("customer.org", "mail.example.net", 10), ("nomail.customer.org", ".", 0)]


@pytest.mark.parametrize("other", [
    {"name": "@", "type": "MX", "content": "mail.example.net", "priority": 10},
    {"name": "customer.org.", "type": "MX", "content": "mx.other-provider.example", "priority": 0},
])
def test_a_null_mx_beside_another_mx_is_refused(prod_values, other):
    """RFC 7505 §3: a domain that advertises a null MX MUST NOT advertise any other MX RR."""
    message = refusal(customer(prod_values, NULL_MX, other),
                      "isp:zones[2].records[1].content = ",
                      "zone customer.org: customer.org publishes the null MX (records[0]",
                      "RFC 7505 §3", "(rule: null-mx-alone)")
    assert message.count("(rule: ") == 1


@pytest.mark.parametrize("priority", [10, 1, 65535])
def test_a_null_mx_has_preference_zero(prod_values, priority):
    refusal(customer(prod_values, {**NULL_MX, "priority": priority}),
            f"isp:zones[2].records[0].priority = {priority}: zone customer.org", 'exchange ".", the null MX',
            "RFC 7505 §3", "(rule: null-mx-preference-0)")


def test_the_isp_domain_never_holds_a_null_mx(prod_values):
    """organization.domain gets the mail hosts' MX from the program: a null MX there would stand beside them."""
    prod_values["zones"][0]["records"].append(NULL_MX)
    refusal(prod_values, 'isp:zones[0].records[2].content = ".": zone example.net: example.net is '
            "organization.domain", "RFC 7505 §3", "(rule: no-null-mx-for-the-isp-domain)")


def test_a_null_mx_below_the_isp_domain_is_its_own_domain(prod_values):
    prod_values["zones"][0]["records"].append({**NULL_MX, "name": "noreply"})
    cfg = parse_stack_config(prod_values)
    assert ("noreply.example.net", ".", 0) in _mx(cfg, 0)


@pytest.mark.parametrize("rtype", ["CNAME", "NS"])
def test_the_root_is_an_exchange_only_for_mx(prod_values, rtype):
    refusal(customer(prod_values, {"name": "sub", "type": rtype, "content": "."}), "isp:zones[2].records[0]",
            "fully qualified domain name")


def test_a_listed_zone_is_named_by_its_file_and_index(prod_values, tmp_path):
    zones = [{"name": "ok.example"}, {"name": "customer.org", "records": [
        {"name": "@", "type": "MX", "content": "mail.example.net", "priority": 10}, NULL_MX]}]
    (tmp_path / "zones.yaml").write_text(yaml.safe_dump(zones))
    prod_values["zonesFrom"] = ["zones.yaml"]
    message = refusal(prod_values, 'zones.yaml: [1].records[0].content = "mail.example.net": zone customer.org',
                      "(rule: null-mx-alone)", project_dir=str(tmp_path))
    assert "isp:zones[" not in message
