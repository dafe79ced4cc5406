"""The MTA-STS reader against RFC 8461: the `_mta-sts` TXT grammar (§3.1), the policy file (§3.2, the
example of §3.2 itself, CRLF and LF line ends, unknown fields ignored) and MX matching (§4.1)."""

from __future__ import annotations

import pack_builders  # noqa: F401 - puts the pack on sys.path
import pytest
from readers import mtasts

# RFC 8461 §3.2's example policy, with the CRLF line ends the RFC specifies.
RFC_POLICY = ("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
              "mx: backupmx.example.com\r\nmax_age: 604800\r\n")


@pytest.mark.parametrize("text", ["v=STSv1; id=20160831085700Z;", "v=STSv1;id=20160831085700Z",
                                  "v=STSv1; id=abc; ext_1=value", f"v=STSv1; id={'a1' * 16}"])
def test_valid_txt_records(text: str) -> None:
    record = mtasts.parse_txt(text)
    assert record.errors == ()
    assert record.id is not None and record.id.startswith(("2016", "abc", "a1"))


@pytest.mark.parametrize(("text", "error"), [
    ("v=STSv1; id=2026-01-01", "id=2026-01-01 is not 1 to 32 letters and digits"),  # a hyphen is not ALPHA/DIGIT
    (f"v=STSv1; id={'a' * 33}", f"id={'a' * 33} is not 1 to 32 letters and digits"),
    ("v=STSv1;", "has no id="),
    ("v=STSv1; id=a; id=b", "has more than one id="),
    ("v=STSv1 id=abc", "does not begin with 'v=STSv1;'"),
    ("v=stsv1; id=abc", "does not begin with 'v=STSv1;'"),  # %s: case-sensitive
    ("v=STSv1; id=abc; bogus", "'bogus' is not a field (name=value)"),
])
def test_invalid_txt_records(text: str, error: str) -> None:
    assert error in mtasts.parse_txt(text).errors


def test_only_records_beginning_with_the_version_are_kept() -> None:
    assert mtasts.is_sts("v=STSv1; id=1") and not mtasts.is_sts("v=spf1 -all")


def test_the_rfc_example_policy_with_crlf() -> None:
    policy = mtasts.parse_policy(RFC_POLICY)
    assert policy.errors == ()
    assert (policy.version, policy.mode, policy.max_age) == ("STSv1", "enforce", 604800)
    assert policy.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")


def test_lf_line_ends_unknown_fields_and_blanks_after_the_colon() -> None:
    policy = mtasts.parse_policy("version: STSv1\nmode:testing\nmx:   mx1.example.org\nmax_age: 86400\nfoo-bar: baz\n")
    assert policy.errors == () and policy.mode == "testing" and policy.mx == ("mx1.example.org",)


def test_mode_none_needs_no_mx() -> None:
    assert mtasts.parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").errors == ()


@pytest.mark.parametrize(("text", "error"), [
    ("mode: enforce\nmx: a.example\nmax_age: 1\n", "has no 'version: STSv1'"),
    ("version: STSv2\nmode: enforce\nmx: a.example.org\nmax_age: 1\n", "version: STSv2 is not STSv1"),
    ("version: STSv1\nmode: Enforce\nmx: a.example.org\nmax_age: 1\n", "mode: Enforce is not enforce, testing or none"),
    ("version: STSv1\nmode: enforce\nmax_age: 86400\n", "mode enforce lists no mx: (no MX host can match it)"),
    ("version: STSv1\nmode: testing\nmx: a.example.org\nmax_age: 31557601\n",
     "max_age: 31557601 is not 0 to 31557600 seconds"),
    ("version: STSv1\nmode: testing\nmx: a.example.org\nmax_age: -1\n", "max_age: -1 is not 0 to 31557600 seconds"),
    ("version: STSv1\nmode: testing\nmx: a.example.org\n", "has no max_age:"),
    ("version: STSv1\nmode: testing\nmx: *.*.example.org\nmax_age: 1\n",
     "line 3: mx: *.*.example.org is not a host name or '*.' and a domain"),
    ("version STSv1\nmode: testing\nmx: a.example.org\nmax_age: 1\n", "line 1 'version STSv1' is not 'key: value'"),
])
def test_invalid_policies(text: str, error: str) -> None:
    assert error in mtasts.parse_policy(text).errors


def test_max_age_bounds_are_inclusive() -> None:
    for age in (0, 31557600):
        assert mtasts.parse_policy(f"version: STSv1\nmode: none\nmax_age: {age}\n").max_age == age


@pytest.mark.parametrize(("pattern", "host", "matches"), [
    ("mail.example.com", "mail.example.com", True),
    ("mail.example.com", "MAIL.Example.com.", True),
    ("*.example.net", "mx1.example.net", True),
    ("*.example.net", "example.net", False),  # §4.1: the wildcard is one whole left-most label
    ("*.example.net", "foo.bar.example.net", False),
    ("mail.example.com", "mail2.example.com", False),
])
def test_mx_matching(pattern: str, host: str, matches: bool) -> None:
    assert mtasts.mx_matches(pattern, host) is matches


def test_policy_allows_by_any_pattern() -> None:
    policy = mtasts.parse_policy(RFC_POLICY)
    assert policy.allows("mx7.example.net") and not policy.allows("mx.example.org")
