"""The TLS-RPT reader against RFC 8460 §3: `v=TLSRPTv1`, `rua=` comma-separated mailto:/https: URIs,
extensions, and what makes senders send no report."""

from __future__ import annotations

import pack_builders  # noqa: F401 - puts the pack on sys.path
import pytest
from readers import tlsrpt


@pytest.mark.parametrize(("text", "rua"), [
    ("v=TLSRPTv1; rua=mailto:reports@example.com", ("mailto:reports@example.com",)),  # RFC 8460 §3.1.1
    ("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", ("https://reporting.example.com/v1/tlsrpt",)),
    ("v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/x;", ("mailto:a@example.com",
                                                                         "https://r.example.com/x")),
    ("v=TLSRPTv1; rua=mailto:a@example.com; ext.1=yes", ("mailto:a@example.com",)),
])
def test_valid_records(text: str, rua: tuple[str, ...]) -> None:
    record = tlsrpt.parse(text)
    assert record.errors == () and record.rua == rua


@pytest.mark.parametrize(("text", "error"), [
    ("v=TLSRPTv1;", "has no rua="),
    ("v=TLSRPTv1; rua=reports@example.com", "rua URI 'reports@example.com' is not a mailto: or https: URI"),
    ("v=TLSRPTv1; rua=ftp://example.com/x", "rua URI 'ftp://example.com/x' is not a mailto: or https: URI"),
    ("v=TLSRPTv1 rua=mailto:a@example.com", "does not begin with 'v=TLSRPTv1;'"),
    ("v=tlsrptv1; rua=mailto:a@example.com", "does not begin with 'v=TLSRPTv1;'"),
    ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "has more than one rua="),
])
def test_invalid_records(text: str, error: str) -> None:
    assert error in tlsrpt.parse(text).errors


def test_record_name() -> None:
    assert tlsrpt.record_name("example.org") == "_smtp._tls.example.org"
