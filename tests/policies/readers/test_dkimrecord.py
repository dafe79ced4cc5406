"""DKIM key records as RFC 6376 §3.6.1 and RFC 8463 write them."""

from __future__ import annotations

import pytest
from pack_builders import PACK_DIR  # noqa: F401 - puts the pack on sys.path
from readers import dkimrecord

# RFC 6376 Appendix C's record (the base64 shortened), with the folding whitespace it allows in p=.
RFC_RECORD = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkM\n   oGeLnQg1fWn7/zYt"


def test_rfc_record_with_folding_whitespace_in_p() -> None:
    record = dkimrecord.parse(RFC_RECORD)
    assert record.errors == ()
    assert record.key_type == "rsa"
    assert " " not in record.public_key and record.public_key.endswith("DkMoGeLnQg1fWn7/zYt")
    assert not record.revoked


def test_empty_p_is_a_revoked_key_and_k_defaults_to_rsa() -> None:
    record = dkimrecord.parse("v=DKIM1; p=")
    assert record.revoked and record.key_type == "rsa" and record.errors == ()


def test_ed25519_record_of_rfc_8463() -> None:
    record = dkimrecord.parse("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert record.key_type == "ed25519" and len(record.key_bytes()) == 32


@pytest.mark.parametrize(("text", "error"), [
    ("k=rsa; v=DKIM1; p=AAAA", "v= is not the first tag"),
    ("v=DKIM2; p=AAAA", "v=DKIM2 is not DKIM1"),
    ("v=DKIM1; k=rsa", "has no p= tag"),
    ("v=DKIM1; p=AAAA; p=BBBB", "appears twice"),
    ("v=DKIM1; p=not base64!", "p= is not base64"),
])
def test_invalid_records(text: str, error: str) -> None:
    assert any(error in e for e in dkimrecord.parse(text).errors), dkimrecord.parse(text).errors


def test_optional_tags_and_what_counts_as_a_dkim_record() -> None:
    record = dkimrecord.parse("v=DKIM1; h=sha256; t=y:s; k=rsa; p=AAAA; x_unknown=ignored")
    assert record.hash_algorithms == ("sha256",) and record.flags == ("y", "s") and record.errors == ()
    assert dkimrecord.is_dkim("p=AAAA") and dkimrecord.is_dkim(" v = DKIM1 ; p=")
    assert not dkimrecord.is_dkim("v=spf1 -all") and not dkimrecord.is_dkim("v=DMARC1; p=reject")
    assert dkimrecord.record_name("s2026a", "example.org") == "s2026a._domainkey.example.org"
