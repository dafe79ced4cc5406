"""Naming the config key a refused value came from, and showing it only if it cannot be a secret."""

from __future__ import annotations

import pytest

from components.config import parse_stack_config
from components.refusals import config_leaves, explain, find_key, refusal
from components.render.quoting import RenderValueError


def _display(path: str) -> str:
    return f"isp:{path}"


@pytest.fixture
def dev(dev_values):
    dev_values["networks"]["publicBlocks"].append("2001:db8:30::/48")
    dev_values["hosts"][2]["publicAddress6"] = "2001:db8:30::25"
    return parse_stack_config(dev_values)


def test_leaves_are_spelled_as_the_yaml_is(dev):
    leaves = dict(config_leaves(dev))
    assert leaves["hosts[2].publicAddress6"] == "2001:db8:30::25"
    assert leaves["organization.contactEmail"] == "hostmaster@example.org"
    assert leaves["gateway.serverInterface"] == "eth1"  # a default is a key too
    assert leaves["networks.servers"] == ["10.30.0.0/24"] and leaves["networks.servers[0]"] == "10.30.0.0/24"


def test_the_same_value_is_found_in_the_scope_first():
    leaves = [("hosts[0].privateAddress", "10.0.0.5"), ("hosts[3].privateAddress", "10.0.0.5")]
    assert find_key(["10.0.0.5"], leaves, ["hosts[3]"]) == ("hosts[3].privateAddress", "10.0.0.5")
    assert find_key(["10.0.0.5"], leaves, []) == ("hosts[0].privateAddress", "10.0.0.5")


def test_a_built_value_names_the_longest_config_value_it_holds_at_word_boundaries():
    leaves = [("hosts[1].name", "mail"), ("zones[1].records[2].content", "mail.example.net"),
              ("organization.domain", "example.net")]
    # webmail.example.net holds example.net, not mail.example.net (which sits inside the word "webmail").
    assert find_key(["webmail.example.net"], leaves, []) == ("organization.domain", "example.net")
    assert find_key(["smtp.mail.example.net"], leaves, [])[0] == "zones[1].records[2].content"
    # An address is never found inside a longer one.
    assert find_key(["10.0.0.10"], [("hosts[0].privateAddress", "10.0.0.1")], []) is None


def test_a_list_value_is_searched_element_by_element():
    leaves = [("mail.submissionPorts", [587, 465]), ("mail.submissionPorts[1]", 465)]
    assert find_key([["eth9", 465]], leaves, []) == ("mail.submissionPorts[1]", 465)


@pytest.mark.parametrize(
    ("error", "values", "rule"),
    [
        (RenderValueError("ipv6_address", "fe80::1%eth0", "must not carry a scope id"), ["fe80::1%eth0"],
         "must not carry a scope id"),
        (ValueError("hostmaster: 'first.last@example.org' has a local part a zone file cannot hold"),
         ["first.last@example.org"], "has a local part a zone file cannot hold"),
        (ValueError("records[3]: TXT data 'say \"hi\"' must be printable without quotes"), ['say "hi"'],
         "must be printable without quotes"),
        (ValueError("zones: example.org listed twice"), [], "zones: example.org listed twice"),
    ],
)
def test_the_refusal_keeps_the_value_and_the_rule_not_the_renderers_wording(error, values, rule):
    assert refusal(error) == (values, rule)


def test_explain_names_the_key_value_and_rule(dev):
    error = RenderValueError("ipv6_address", "2001:db8:30::25", "is refused")
    line = explain(error, scope=["hosts[2]"], what="mail host mail", cfg=dev, display=_display)
    assert line == ('isp:hosts[2].publicAddress6 = "2001:db8:30::25": is refused '
                    "(refused while rendering mail host mail)")


def test_explain_without_a_key_names_the_scope(dev):
    line = explain(ValueError("zones: x.example listed twice"), scope=["hosts[1]"], what="name server ns1",
                   cfg=dev, display=_display)
    assert line.startswith("isp:hosts[1]: a value derived from it was refused while rendering name server ns1")


def test_a_secret_looking_value_is_never_shown(dev_values):
    token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc0a9Fz"
    dev_values["zones"][0]["records"] = [{"name": "@", "type": "TXT", "content": token}]
    cfg = parse_stack_config(dev_values)
    for error in (RenderValueError("records[0].data", token, "is refused"),
                  ValueError(f"records[0]: TXT data {token!r} is refused; token={token}")):
        line = explain(error, scope=["zones[0]"], what="zone example.org", cfg=cfg, display=_display)
        assert line.startswith("isp:zones[0].records[0].content = [redacted"), line
        assert "4eC39HqLyjWD" not in line
