"""Tenants stay in their zone: a customer zone holds only its own names and points at ours only as our hosts
serve them; a bad entry is refused naming its place (`isp:zones[i]...`, or its file and index)."""

from __future__ import annotations

import pytest
import yaml

from components.config import parse_stack_config
from components.config.tenancy import MAX_REPORTED
from components.dns_data import zone_records
from tests.components.config.refusals import refusal


def customer(prod_values: dict, name: str = "customer.org", *records: dict) -> dict:
    prod_values["zones"].append({"name": name, "records": list(records)})
    return prod_values


# prod: example.net, hosts ns1/ns2 (dns, 198.51.100.11/12), mail (198.51.100.25), www (web+webmail, .80),
# pools res/biz/dial/fttx/res6 named <kind>-a-b-c-d.<pool>.pool.example.net; zones[2] is the next one.
@pytest.mark.parametrize(("zone", "rule"), [
    ("mail.example.net", "not-an-isp-zone"),
    ("pool.example.net", "not-an-isp-zone"),
    ("res.pool.example.net", "not-an-isp-zone"),
    ("evil.res.pool.example.net", "not-an-isp-zone"),
    ("example.net.", "listed twice"),  # the primary zone again, spelled with the root's dot
    ("100.51.198.in-addr.arpa", "not-a-reverse-zone"),
    ("0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa", "not-a-reverse-zone"),
    ("in-addr.arpa", "not-a-reverse-zone"),
    ("customer.in-addr.arpa", "not-a-reverse-zone"),
])
def test_a_customer_zone_is_never_one_of_ours(prod_values, zone, rule):
    refusal(customer(prod_values, zone), rule)


def test_a_zone_above_ours_is_refused(prod_values):
    """With organization.domain isp.example.net, a customer's example.net would claim all of our names."""
    prod_values["organization"]["domain"] = "isp.example.net"
    prod_values["zones"][0]["name"] = "isp.example.net"
    prod_values["zones"][1]["records"] = []
    message = refusal(customer(prod_values, "example.net"), 'isp:zones[2].name = "example.net": is a parent of '
                      "isp.example.net, the ISP's own primary zone", "(rule: not-a-parent-of-an-isp-zone)")
    assert message.count("\n  - ") == 1


def test_pool_names_outside_our_domain_are_ours_too(prod_values):
    prod_values["networks"]["customerPools"][0]["ptrPattern"] = "{kind}-{a}-{b}-{c}-{d}.dyn.example-isp.com"
    prod_values["zones"].append({"name": "example-isp.com"})  # the zone holding them is ours: accepted
    parse_stack_config(prod_values)
    for zone, rule in (("dyn.example-isp.com", "not-an-isp-zone"), ("x.dyn.example-isp.com", "not-an-isp-zone")):
        values = customer({**prod_values, "zones": list(prod_values["zones"])}, zone)
        refusal(values, f"{zone}", "customer pool res's names (ptrPattern)", f"(rule: {rule})")


def test_a_fully_qualified_owner_outside_its_zone_is_refused_not_re_rooted(prod_values):
    customer(prod_values, "customer.org", {"name": "www", "type": "A", "content": "192.0.2.80"},
             {"name": "mail.example.net.", "type": "A", "content": "192.0.2.99"})
    refusal(prod_values, 'isp:zones[2].records[1].name = "mail.example.net.": is fully qualified outside its zone '
            "customer.org", "(rule: owner-inside-zone)")
    # Our own zone holds only its names too.
    prod_values["zones"].pop()
    prod_values["zones"][0]["records"].append({"name": "www.customer.org.", "type": "A", "content": "192.0.2.1"})
    refusal(prod_values, 'isp:zones[0].records[2].name = "www.customer.org."', "(rule: owner-inside-zone)")


def test_a_relative_owner_is_inside_its_zone_as_cloudflare_places_it(prod_values):
    cfg = parse_stack_config(customer(prod_values, "customer.org",
                                      {"name": "mail.example.net", "type": "A", "content": "192.0.2.99"},
                                      {"name": "shop.customer.org", "type": "A", "content": "192.0.2.98"},
                                      {"name": "www.customer.org.", "type": "A", "content": "192.0.2.97"}))
    names = {r.name for r in zone_records(cfg, cfg.zones[-1]) if r.type == "A"}
    assert names == {"mail.example.net.customer.org", "shop.customer.org", "www.customer.org"}


@pytest.mark.parametrize(("record", "rule"), [
    ({"name": "@", "type": "MX", "content": "ns1.example.net", "priority": 10}, "mx-to-our-mail-host"),
    ({"name": "@", "type": "MX", "content": "mx.example.net.", "priority": 10}, "mx-to-our-mail-host"),
    ({"name": "sub", "type": "NS", "content": "www.example.net"}, "ns-to-our-name-server"),
    ({"name": "sub", "type": "NS", "content": "1.100.51.198.in-addr.arpa"}, "ns-to-our-name-server"),
    ({"name": "shop", "type": "CNAME", "content": "shop.example.net"}, "cname-to-an-existing-name"),
    ({"name": "www", "type": "CNAME", "content": "ns1.example.net"}, "web-name-not-at-our-name-server"),
    ({"name": "webmail", "type": "CNAME", "content": "ns2.example.net."}, "web-name-not-at-our-name-server"),
    ({"name": "@", "type": "A", "content": "198.51.100.11"}, "web-name-not-at-our-name-server"),
    ({"name": "www", "type": "AAAA", "content": "2001:db8:100:0:0:0:0:12"}, "web-name-not-at-our-name-server"),
])
def test_a_customer_record_points_at_our_names_only_as_our_hosts_serve_them(prod_values, record, rule):
    refusal(customer(prod_values, "customer.org", record), "isp:zones[2].records[0].content = ", f"(rule: {rule})")


def test_a_web_name_reaching_our_name_server_through_our_own_cname_is_refused(prod_values):
    prod_values["zones"][0]["records"].append({"name": "resolver", "type": "CNAME", "content": "ns2.example.net"})
    refusal(customer(prod_values, "customer.org", {"name": "www", "type": "CNAME", "content": "resolver.example.net"}),
            "at our name server resolver.example.net", "(rule: web-name-not-at-our-name-server)")


@pytest.mark.parametrize("record", [
    {"name": "@", "type": "MX", "content": "mail.example.net", "priority": 10},  # mail hosting: ordinary
    {"name": "@", "type": "A", "content": "198.51.100.80"},  # web hosting on our web host
    {"name": "www", "type": "CNAME", "content": "www.example.net"},
    {"name": "webmail", "type": "CNAME", "content": "webmail.example.net"},
    {"name": "sub", "type": "NS", "content": "ns1.example.net"},
    {"name": "ns", "type": "A", "content": "198.51.100.11"},  # a vanity name server: no web name
    {"name": "ftp", "type": "CNAME", "content": "ns1.example.net"},
    {"name": "home", "type": "CNAME", "content": "broadband-203-0-113-5.res.pool.example.net"},
    {"name": "@", "type": "MX", "content": "mx.other-provider.example", "priority": 10},
    {"name": "@", "type": "TXT", "content": "v=spf1 include:example.net -all"},
])
def test_ordinary_hosting_records_are_accepted(prod_values, record):
    parse_stack_config(customer(prod_values, "customer.org", record))


def test_a_listed_zone_is_named_by_its_file_and_index(prod_values, tmp_path):
    zones = [{"name": "ok.example"}, {"name": "customer.org", "records": [
        {"name": "@", "type": "A", "content": "192.0.2.1"},
        {"name": "mail.example.net.", "type": "A", "content": "192.0.2.99"}]}, {"name": "pool.example.net"}]
    (tmp_path / "zones.yaml").write_text(yaml.safe_dump(zones))
    prod_values["zonesFrom"] = ["zones.yaml"]
    message = refusal(prod_values, 'zones.yaml: [1].records[1].name = "mail.example.net.": ',
                      'zones.yaml: [2].name = "pool.example.net": lies under example.net', project_dir=str(tmp_path))
    assert "isp:zones[" not in message


def test_every_bad_entry_is_named_at_once_up_to_a_bound(prod_values):
    customer(prod_values, "customer.org",
             *({"name": f"h{i}.example.net.", "type": "A", "content": "192.0.2.1"} for i in range(MAX_REPORTED + 5)))
    message = refusal(prod_values, "isp:zones[2].records[0].name", f"isp:zones[2].records[{MAX_REPORTED - 1}].name")
    assert message.count("(rule: owner-inside-zone)") == MAX_REPORTED


def test_the_repo_stacks_and_lab_are_tenants_of_nothing(prod_values, dev_values):
    from tests.conftest import stack_values

    for values in (prod_values, dev_values, stack_values("lab")):
        parse_stack_config(values)


def test_a_web_name_at_our_own_host_serving_dns_and_web_is_left_to_the_pack(prod_values):
    """Where one of our hosts already serves DNS and web, a customer's site there is ordinary hosting: the
    breach (lesson 8) is the ISP's own, and the policy pack judges it; the config refuses nothing."""
    www = next(h for h in prod_values["hosts"] if h["name"] == "www")
    www["roles"] = ["dns", "web", "webmail"]
    parse_stack_config(customer(prod_values, "customer.org", {"name": "@", "type": "A", "content": "198.51.100.80"},
                                {"name": "www", "type": "CNAME", "content": "www.example.net"}))
