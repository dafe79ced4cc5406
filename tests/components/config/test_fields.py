"""Addresses and networks in the config: parsed strictly, kept canonical, refused naming the key.

Written as a hostile or careless operator writes Pulumi.<stack>.yaml: Python's ipaddress takes
an IPv6 scope id with ANY text after `%` and gives it back from str(), takes netmask and
hostmask prefixes and zero-padded lengths, and ints or bytes as addresses. None of that may
reach named.conf, a zone file, main.cf or the nftables ruleset.
"""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from pydantic import ValidationError

from components.config import ConfigError, Host, Networks, Record, parse_stack_config

# From the BIND ARM's grammar: close the acl, open recursion to all, comment out the rest.
NAMED_CONF_PAYLOAD = "x; }; options { recursion yes; allow-recursion { any; }; }; #"


def refused(values: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values, "Pulumi.prod.yaml")
    return str(raised.value)


def host(values: dict, name: str) -> dict:
    return next(h for h in values["hosts"] if h["name"] == name)


# ---------------------------------------------------------------------------------------
# Scope (zone) ids: free text after '%'


@pytest.mark.parametrize("scope", [NAMED_CONF_PAYLOAD, "eth0", "0", "x\ny", "x\u2028y", "\ud800", "a" * 5000])
def test_a_scope_id_on_a_host_address_is_refused_naming_the_key(prod_values, scope):
    host(prod_values, "ns1")["publicAddress6"] = f"2001:db8:100::11%{scope}"
    message = refused(prod_values)
    assert "isp:hosts[1].publicAddress6 = " in message and "scope id" in message
    assert "recursion yes" not in message[200:]  # the value is shown cut short, once
    assert len(message.splitlines()) == 2  # one problem, one line: no value adds a line


@pytest.mark.parametrize(
    ("key", "set_value"),
    [
        ("networks.publicBlocks[1]", lambda v: v["networks"]["publicBlocks"].__setitem__(1, "2001:db8:100::%eth0/48")),
        ("networks.customerPools[4].prefix",
         lambda v: v["networks"]["customerPools"][4].__setitem__("prefix", f"2001:db8:8000::%{NAMED_CONF_PAYLOAD}/40")),
        ("dns.recursionClients[0]", lambda v: v.__setitem__("dns", {"recursionClients": ["2001:db8:100::%1/48"]})),
        ("gateway.managementNetworks[0]",
         lambda v: v.__setitem__("gateway", {"managementNetworks": ["2001:db8:100::%lo/48"]})),
        ("hosts[0].privateAddress", lambda v: v["hosts"][0].__setitem__("privateAddress", "fe80::1%eth0")),
    ],
)
def test_a_scope_id_on_any_network_or_address_is_refused(prod_values, key, set_value):
    set_value(prod_values)
    message = refused(prod_values)
    assert f"isp:{key} = " in message and "scope id" in message, message


def test_a_scope_id_in_aaaa_record_content_is_refused_naming_the_record(prod_values):
    prod_values["zones"][1]["records"] = [
        {"name": "v6", "type": "AAAA", "content": "2001:db8:100::80%; } zone evil. {"}
    ]
    message = refused(prod_values)
    assert "isp:zones[1].records[0]: content " in message and "scope id" in message, message


def test_address_objects_with_a_scope_id_are_refused_as_text_is():
    """Through the Python API an ipaddress object can carry the scope id; str() would write it."""
    scoped = ipaddress.ip_address(f"2001:db8:100::11%{NAMED_CONF_PAYLOAD}")
    with pytest.raises(ValidationError, match="scope id"):
        Host.model_validate({"name": "ns1", "privateAddress": "10.20.0.11", "publicAddress6": scoped, "roles": ["dns"]})
    scoped_net = ipaddress.ip_network("2001:db8:100::%x; any/48")
    with pytest.raises(ValidationError, match="scope id"):
        Networks.model_validate({"servers": ["10.20.0.0/24"], "publicBlocks": [scoped_net]})


# ---------------------------------------------------------------------------------------
# Lenient spellings


@pytest.mark.parametrize(
    "prefix",
    ["10.20.0.0/255.255.255.0", "10.20.0.0/0.0.0.255", "10.20.0.0/024", "10.20.0.0/+24", "10.20.0.0/ 24",
     "10.20.0.0/24/24", "10.20.0.0/", "10.20.0.0/33", "10.20.0.0/٢٤", "10.20.0.0/２４", "010.20.0.0/24"],
)
def test_only_cidr_with_a_plain_length_is_a_network(prod_values, prefix):
    prod_values["networks"]["servers"] = [prefix]
    message = refused(prod_values)
    assert "isp:networks.servers[0] = " in message, message


def test_a_prefix_with_host_bits_is_refused_with_the_block_meant(prod_values):
    prod_values["networks"]["servers"] = ["10.20.0.1/24"]
    assert "did you mean 10.20.0.0/24" in refused(prod_values)


@pytest.mark.parametrize(
    ("key", "value"),
    [("publicAddress6", "::ffff:198.51.100.11"), ("publicAddress6", "::198.51.100.11"),
     ("publicAddress6", "::ffff:c633:640b")],
)
def test_an_ipv4_mapped_or_compatible_address_is_not_an_ipv6_host(prod_values, key, value):
    host(prod_values, "ns1")[key] = value
    message = refused(prod_values)
    assert f"isp:hosts[1].{key} = " in message and "IPv4-mapped or IPv4-compatible" in message


def test_an_ipv4_mapped_block_is_not_an_ipv6_network(prod_values):
    prod_values["dns"] = {"recursionClients": ["::ffff:10.20.0.0/120"]}
    assert "IPv4-mapped or IPv4-compatible IPv6 block" in refused(prod_values)
    prod_values["dns"] = {"recursionClients": ["::/96"]}
    assert "isp:dns.recursionClients[0]" in refused(prod_values)


@pytest.mark.parametrize(
    "value",
    [" 10.20.0.11", "10.20.0.11 ", "10.20.0.11\n", "10.20.0.11\r", "10.20.0.11\t", "10.20.0.11\u2028",
     "10.20.0.11\x85", "10.20.0.11\v", "10.20.0.11\x00", "\ufeff10.20.0.11", "10.20.0.11\ud800", "１0.20.0.11",
     "10.20.0.011", "10.20.11", "0x0a.20.0.11", "[10.20.0.11]", ""],
)
def test_an_address_is_its_characters_only(prod_values, value):
    host(prod_values, "ns1")["privateAddress"] = value
    message = refused(prod_values)
    assert "isp:hosts[1].privateAddress = " in message, message
    assert len(message.splitlines()) == 2, message


@pytest.mark.parametrize(
    "value",
    [167772171, True, 10.2, 1e3, None, ["10.20.0.11"], {"address": "10.20.0.11"}, b"\n\x14\x00\x0b",
     datetime.date(2024, 1, 1)],
)
def test_an_address_is_written_as_text_not_a_yaml_number_or_binary(prod_values, value):
    """YAML turns 167772171 into an int, `yes` into True, !!binary into bytes: ipaddress would take
    the int and the 4 bytes as 10.20.0.11."""
    host(prod_values, "ns1")["privateAddress"] = value
    message = refused(prod_values)
    assert "isp:hosts[1].privateAddress" in message and "written as text" in message, message


@pytest.mark.parametrize("value", [167772160, b"\n\x14\x00\x00", ("10.20.0.0", 24), ["10.20.0.0", "24"], True])
def test_a_network_is_written_as_text(prod_values, value):
    prod_values["networks"]["servers"] = [value]
    assert "isp:networks.servers[0] = " in refused(prod_values)


def test_a_very_long_value_is_refused_and_shown_cut_short(prod_values):
    host(prod_values, "ns1")["publicAddress6"] = "2001:db8:100::11" + ":1" * 5000
    message = refused(prod_values)
    assert "isp:hosts[1].publicAddress6" in message and len(message) < 600


def test_the_version_a_key_names_is_the_version_it_takes(prod_values):
    host(prod_values, "ns1")["publicAddress"] = "2001:db8:100::11"
    assert "must be an IPv4 address" in refused(prod_values)
    host(prod_values, "ns1")["publicAddress"] = "198.51.100.11"
    host(prod_values, "ns1")["publicAddress6"] = "198.51.100.11"
    assert "must be an IPv6 address" in refused(prod_values)


# ---------------------------------------------------------------------------------------
# What is accepted is kept canonical


def test_accepted_addresses_and_networks_are_kept_canonical(prod_values):
    host(prod_values, "ns1")["publicAddress6"] = "2001:0DB8:0100:0000:0000:0000:0000:0011"
    prod_values["networks"]["publicBlocks"][1] = "2001:DB8:100:0::/48"
    prod_values["dns"] = {"recursionClients": ["10.20.0.0/24", "2001:DB8:100::/48", "any"]}
    prod_values["gateway"] = {"managementNetworks": ["10.20.0.7"]}
    cfg = parse_stack_config(prod_values)
    ns1 = next(h for h in cfg.hosts if h.name == "ns1")
    assert str(ns1.public_address6) == "2001:db8:100::11" and type(ns1.public_address6) is ipaddress.IPv6Address
    assert str(cfg.networks.public_blocks[1]) == "2001:db8:100::/48"
    assert cfg.recursion_clients == ["10.20.0.0/24", "2001:db8:100::/48", "any"]
    assert [str(n) for n in cfg.gateway.management_networks] == ["10.20.0.7/32"]  # a bare address: one host
    dumped = cfg.model_dump(mode="json", by_alias=True)
    assert dumped["hosts"][1]["publicAddress6"] == "2001:db8:100::11"


def test_a_record_address_is_kept_canonical():
    record = Record.model_validate({"name": "v6", "type": "AAAA", "content": "2001:DB8:100:0:0::80"})
    assert record.content == "2001:db8:100::80"
    assert Record.model_validate({"name": "@", "type": "A", "content": "198.51.100.80"}).content == "198.51.100.80"
    # Other types keep their text as written: a TXT record is not an address.
    assert Record.model_validate({"name": "@", "type": "TXT", "content": "2001:DB8::1"}).content == "2001:DB8::1"


@pytest.mark.parametrize(
    ("rtype", "content"),
    [("A", "198.51.100.80 "), ("A", "::ffff:198.51.100.80"), ("AAAA", "::ffff:198.51.100.80"),
     ("A", "198.51.100.080"), ("AAAA", "2001:db8::1%0"), ("A", "2001:db8::1"), ("AAAA", "198.51.100.80")],
)
def test_a_record_address_is_refused_as_host_addresses_are(rtype, content):
    with pytest.raises(ValidationError, match="content"):
        Record.model_validate({"name": "www", "type": rtype, "content": content})


def test_every_address_reaches_named_conf_as_its_canonical_text(prod_values):
    """What the model keeps is what BIND gets: the canonical spelling, never the input's."""
    from components.name_server import NameServerArgs, named_conf_for

    prod_values["dns"] = {"recursionClients": ["2001:0DB8:0100::/48", "10.20.0.0/24"]}
    cfg = parse_stack_config(prod_values)
    conf = named_conf_for(NameServerArgs(
        connection={"host": "ns1.example.net", "user": "deploy", "private_key": "k"},
        own_networks=[str(n) for n in cfg.networks.own_networks()], recursion_clients=cfg.recursion_clients,
        zone_files=[], transfer_peers=["10.20.0.12"],
    ))
    assert 'acl "isp_recursion" { 2001:db8:100::/48; 10.20.0.0/24; };' in conf
