"""The stack config model: what it accepts, and the clear error for what it does not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.config import ConfigError, parse_stack_config


def test_repo_stacks_parse(prod_values, dev_values):
    prod = parse_stack_config(prod_values, "Pulumi.prod.yaml")
    dev = parse_stack_config(dev_values, "Pulumi.dev.yaml")
    assert prod.protect is True and dev.protect is False
    assert len(prod.hosts_with("dns")) == 2
    assert prod.mail.daily_limit_per_account == 150
    assert dev.mail.submission_ports == [587, 465]


def test_defaults_follow_the_lessons(dev_values):
    dev_values.pop("mail")
    cfg = parse_stack_config(dev_values)
    assert cfg.mail.daily_limit_per_account == 100
    assert cfg.mail.mailbox_format == "maildir"
    # Recursion defaults to our own blocks, never "any".
    assert "any" not in cfg.recursion_clients
    assert set(cfg.recursion_clients) == {str(n) for n in cfg.networks.own_networks()}


def test_model_is_frozen(dev_values):
    cfg = parse_stack_config(dev_values)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.hosts[0].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda v: v["hosts"][1].update(privateAddress="10.30.0.300"), ["isp:hosts[1].privateAddress", "10.30.0.300"]),
        (lambda v: v["hosts"][1].update(name="ns1;reboot"), ["isp:hosts[1].name", "ns1;reboot", "DNS label"]),
        (lambda v: v["hosts"][1].update(name="ns1$(id)"), ["isp:hosts[1].name", "ns1$(id)"]),
        # A regex `$` also matches before a final newline: found by the fuzz suite.
        (lambda v: v["hosts"][1].update(name="ns1\n"), ["isp:hosts[1].name"]),
        (
            lambda v: v["zones"][0].update(records=[{"name": "www\n", "type": "A", "content": "192.0.2.1"}]),
            ["isp:zones[0].records[0].name"],
        ),
        (lambda v: v.update(bogusKey=1), ["isp:bogusKey", "not a known setting"]),
        (lambda v: v["hosts"][2].update(foo="bar"), ["isp:hosts[2].foo", "not a known setting"]),
        (lambda v: v["hosts"].append(dict(v["hosts"][1])), ["duplicate host name", "ns1"]),
        (lambda v: v["hosts"][2].pop("publicAddress"), ["hosts[2] (mail)", "no publicAddress"]),
        (
            lambda v: v["networks"]["servers"].__setitem__(0, "10.30.0.1/24"),
            ["isp:networks.servers[0]", "10.30.0.1/24"],
        ),
        (lambda v: v["networks"]["customerPools"][0].update(prefix="203.0.113.0/27"), ["overlaps"]),
        (lambda v: v["mail"].update(submissionPorts=[25]), ["isp:mail.submissionPorts[0]", "25"]),
        (lambda v: v["mail"].update(dailyLimitPerAccount=0), ["isp:mail.dailyLimitPerAccount", "0"]),
        (lambda v: v["mail"].update(dialupMessageSizeLimitMb=50), ["dialupMessageSizeLimitMb 50"]),
        (lambda v: v["organization"].update(domain="example.org\nevil"), ["isp:organization.domain"]),
        (lambda v: v.pop("organization"), ["isp:organization is required"]),
    ],
)
def test_bad_input_names_key_value_and_rule(dev_values, mutate, expected):
    mutate(dev_values)
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_values, "Pulumi.dev.yaml")
    message = str(caught.value)
    assert message.startswith("Pulumi.dev.yaml: invalid stack config")
    for fragment in expected:
        assert fragment in message, message


def test_record_content_must_fit_its_type(dev_values):
    dev_values["zones"][0]["records"] = [{"name": "www", "type": "A", "content": "not-an-ip"}]
    with pytest.raises(ConfigError, match=r"isp:zones\[0\]\.records\[0\]"):
        parse_stack_config(dev_values)
    dev_values["zones"][0]["records"] = [{"name": "@", "type": "TXT", "content": "line\nbreak"}]
    with pytest.raises(ConfigError, match="printable"):
        parse_stack_config(dev_values)
