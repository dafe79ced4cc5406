"""DMARC records read as RFC 7489 §6.3-6.4 and §6.6.3 have receivers read them."""

from __future__ import annotations

import pytest
from readers import dmarcrecord


@pytest.mark.parametrize("text,kept", [
    ("v=DMARC1; p=reject", True),
    ("v = DMARC1 ; p=none", True),
    ("v=DMARC1", True),
    ("v=dmarc1; p=reject", False),  # the version is spelt exactly
    ("p=reject; v=DMARC1", False),  # v MUST be first
    ("v=DMARC10; p=reject", False),
    ("v=spf1 -all", False),
])
def test_records_a_receiver_keeps(text: str, kept: bool) -> None:
    assert dmarcrecord.is_dmarc(text) is kept


def test_policy_subdomain_policy_and_percent() -> None:
    record = dmarcrecord.parse("v=DMARC1; P=Reject; sp=quarantine; pct=25; rua=mailto:d@example.net")
    assert (record.policy, record.subdomain_policy, record.percent, record.errors) == ("reject", "quarantine", 25, ())
    plain = dmarcrecord.parse("v=DMARC1; p=reject;")
    assert (plain.subdomain_policy, plain.percent) == ("reject", 100)


@pytest.mark.parametrize("text,error", [
    ("v=DMARC1; rua=mailto:d@example.net", "has no p= tag"),
    ("v=DMARC1; p=block", "p=block is not none, quarantine or reject"),
    ("v=DMARC1; p=reject; pct=150", "pct=150 is not a whole number from 0 to 100"),
    ("v=DMARC1; p=reject; junk", "'junk' is not a tag=value pair"),
])
def test_what_a_receiver_rejects_is_an_error(text: str, error: str) -> None:
    assert error in dmarcrecord.parse(text).errors


def test_record_name() -> None:
    assert dmarcrecord.record_name("example.org") == "_dmarc.example.org"
