"""The renderer boundary: every value check holds objects to the same rules as text.

A renderer may be handed an ipaddress object (from the config model, or from a caller that
built one): Python lets an IPv6Address carry a scope id of any text, and str() writes it out.
So objects are re-read from their text and refused as a string would be; what passes comes
back as a fresh canonical object, and that is what the renderers write.
"""

from __future__ import annotations

import ipaddress
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.render import quoting
from components.render.quoting import RenderValueError
from tests.conftest import require_tool

# nftables' grammar: close the set, accept everything, open a dummy set for the rest.
NFT_PAYLOAD = "x } ; add rule inet filter input accept ; set y { type ipv6_addr"


def rule_of(call) -> str:
    with pytest.raises(RenderValueError) as raised:
        call()
    return str(raised.value)


@pytest.mark.parametrize("scope", [NFT_PAYLOAD, "eth0", "0", "\n", "\u2028", "\ud800", " "])
def test_an_address_object_with_a_scope_id_is_refused(scope):
    scoped = ipaddress.IPv6Address(f"2001:db8::25%{scope}")
    message = rule_of(lambda: quoting.ip_address(scoped, "mail_hosts_ipv6[0]", version=6))
    assert message.startswith("mail_hosts_ipv6[0]=") and "scope id" in message


def test_a_network_object_with_a_scope_id_is_refused_in_a_list_naming_its_index():
    scoped = ipaddress.ip_network(f"2001:db8::%{NFT_PAYLOAD.replace('/', '')}/64")
    message = rule_of(lambda: quoting.ip_networks([ipaddress.ip_network("10.0.0.0/8"), scoped], "customer_pools"))
    assert message.startswith("customer_pools[1]=") and "scope id" in message


@pytest.mark.parametrize(
    "value",
    ["2001:db8::1%eth0", "fe80::1%1", "10.0.0.1 ", "10.0.0.1\n", "10.0.0.01", "::ffff:10.0.0.1", "::10.0.0.1",
     "", "10.0.0.0/8", 167772161, b"\n\x00\x00\x01", True, None, ("10.0.0.1",), object()],
)
def test_an_address_is_text_of_address_characters_or_an_address_object(value):
    rule_of(lambda: quoting.ip_address(value, "private_address"))


@pytest.mark.parametrize(
    "value",
    ["10.0.0.0/255.0.0.0", "10.0.0.0/0.255.255.255", "10.0.0.0/08", "10.0.0.1/8", "2001:db8::/064",
     "2001:db8::%1/64", "::ffff:10.0.0.0/104", "::/96", "10.0.0.0/8 ", ("10.0.0.0", 8), 167772160,
     ipaddress.ip_address("10.0.0.1"), "10.0.0.0/33"],
)
def test_a_network_is_cidr_text_or_a_network_object(value):
    rule_of(lambda: quoting.ip_network(value, "own_networks[0]"))


def test_what_passes_is_a_fresh_canonical_object():
    address = quoting.ip_address("2001:0DB8:0:0::0019", "ipv6_address", version=6)
    assert str(address) == "2001:db8::19" and type(address) is ipaddress.IPv6Address
    network = quoting.ip_network(ipaddress.ip_network("2001:DB8:100::/48"), "pools[0]")
    assert str(network) == "2001:db8:100::/48"
    assert str(quoting.ip_network("10.0.0.7", "peer")) == "10.0.0.7/32"  # a bare address: one host
    assert quoting.ip_network("::/0", "any6").prefixlen == 0 and str(quoting.ip_network("::1", "lo")) == "::1/128"


def test_an_address_subclass_is_judged_by_what_it_prints():
    class Shifty(ipaddress.IPv4Address):
        def __str__(self) -> str:
            return "10.0.0.1; flush ruleset"

    assert "10.0.0.1; flush ruleset" in rule_of(lambda: quoting.ip_address(Shifty("10.0.0.1"), "public_address"))


@pytest.mark.parametrize(("value", "version"), [("10.0.0.1", 6), ("2001:db8::1", 4)])
def test_the_version_asked_for_is_the_version_given(value, version):
    assert f"must be an IPv{version} address" in rule_of(lambda: quoting.ip_address(value, "p", version=version))


class Shape(str):
    """A str that checks as one thing and formats as another."""

    def __format__(self, spec: str) -> str:
        return "mail.example.net\nmynetworks = 0.0.0.0/0"


class Port(int):
    def __format__(self, spec: str) -> str:
        return "25 -o smtpd_client_restrictions=permit"


@pytest.mark.parametrize(
    "call",
    [
        lambda: quoting.fqdn(Shape("mail.example.net"), "hostname_fqdn"),
        lambda: quoting.mail_address(Shape("postmaster@example.net"), "postmaster_address"),
        lambda: quoting.absolute_path(Shape("/etc/ssl/cert.pem"), "tls_cert_path"),
        lambda: quoting.interface_name(Shape("eth0"), "wan_interface"),
        lambda: quoting.account_name(Shape("alice"), "account"),
        lambda: quoting.port(Port(587), "submission_ports[0]"),
        lambda: quoting.positive_int(Port(10), "daily_limit_per_account"),
        lambda: quoting.port(True, "port"),
    ],
)
def test_a_subclass_that_formats_differently_is_refused(call):
    """f-strings call the value's own __format__: only plain str and int are written."""
    rule_of(call)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_whatever_text_an_address_check_passes_is_its_own_canonical_spelling_in_a_file(scope):
    for text in (f"2001:db8::1%{scope}", f"2001:db8::{scope}", scope, f"10.0.0.0/{scope}"):
        for check in (quoting.ip_address, quoting.ip_network):
            try:
                parsed = check(text, "p")
            except RenderValueError:
                continue
            written = str(parsed)
            assert "%" not in written and written.isascii() and written.isprintable() and " " not in written
            assert str(type(parsed)(written)) == written


# Written from systemd.time(7) and checked against `systemd-analyze calendar` by hand.
CALENDAR_EVENTS_SYSTEMD_TAKES = ["*-*-* 02:30:00", "daily", "Mon..Fri 03:00", "Mon,Sun *-*-* 1:2:3", "2026-01-01",
                                 "1-1", "*-*-1/2 00:00", "Sunday 04:00", "*-*-* 0/15:00", "*-*-27/4 00:00"]
CALENDAR_EVENTS_SYSTEMD_REFUSES = ["0", "25:00", "2026-13-01 00:00", "*-*-* 02:30:60", "*-*-* 2..1:00",
                                   "*-*-* 0/0:00", "*/2-*-* 00:00", "*-*-* *,7:00", "*-*-28/4 00:00", "Fri..Mon 00:00",
                                   "Mon Tue 00:00", "*-*-* 1:2:3:4", "  daily", "daily\n", "daily; rm -rf /", ""]


@pytest.mark.parametrize("event", CALENDAR_EVENTS_SYSTEMD_TAKES)
def test_calendar_events_systemd_takes_are_accepted(event):
    assert quoting.calendar_event(event, "schedule") == event


@pytest.mark.parametrize("event", CALENDAR_EVENTS_SYSTEMD_REFUSES)
def test_calendar_events_systemd_refuses_are_refused_by_value(event):
    with pytest.raises(quoting.RenderValueError, match="schedule"):
        quoting.calendar_event(event, "schedule")


def test_the_calendar_grammar_agrees_with_systemd_analyze():
    """Every event the grammar accepts, systemd accepts too (the host's check comes after registration)."""
    require_tool("systemd-analyze")
    for event in CALENDAR_EVENTS_SYSTEMD_TAKES + CALENDAR_EVENTS_SYSTEMD_REFUSES:
        systemd = subprocess.run(["systemd-analyze", "calendar", event], capture_output=True, timeout=30).returncode
        try:
            quoting.calendar_event(event, "schedule")
        except quoting.RenderValueError:
            continue
        assert systemd == 0, event
