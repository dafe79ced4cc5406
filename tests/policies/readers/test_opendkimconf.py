"""opendkim.conf(5) and its tables, written as operators and Debian write them."""

from __future__ import annotations

import pytest
from pack_builders import PACK_DIR  # noqa: F401 - puts the pack on sys.path
from readers import opendkimconf

# Debian's packaged /etc/opendkim.conf with the single-key lines an operator uncomments.
DEBIAN_SINGLE_KEY = """# This is a basic configuration for signing and verifying.
Syslog			yes
SyslogSuccess		yes
Canonicalization	relaxed/simple
OversignHeaders		From
Domain			example.org, example.com
Selector		mail
KeyFile			/etc/dkimkeys/mail.private
UserID			opendkim
UMask			007
Socket			local:/run/opendkim/opendkim.sock
PidFile			/run/opendkim/opendkim.pid
TrustAnchorFile		/usr/share/dns/root.key
"""


def test_settings_are_case_insensitive_comments_cut_and_the_last_one_wins() -> None:
    conf = opendkimconf.parse("socket inet:1@localhost\nSOCKET inet:8891@localhost # milter\n#Mode v\n")
    assert conf.get("Socket") == "inet:8891@localhost"
    assert conf.line("socket") == 2
    assert conf.signs  # Mode defaults to sv


@pytest.mark.parametrize(("mode", "signs"), [("v", False), ("sv", True), ("s", True), ("V", False)])
def test_mode_must_contain_s_to_sign(mode: str, signs: bool) -> None:
    assert opendkimconf.parse(f"Mode {mode}\n").signs is signs


def test_debian_single_key_form() -> None:
    conf = opendkimconf.parse(DEBIAN_SINGLE_KEY)
    assert conf.single_key
    assert opendkimconf.dataset(conf.get("Domain")).items == ("example.org", "example.com")
    assert conf.get("Selector") == "mail"
    assert opendkimconf.parse_socket(conf.get("Socket")) == opendkimconf.Socket(
        "local", path="/run/opendkim/opendkim.sock")
    # A KeyTable overrides KeyFile (opendkim.conf(5) KeyFile).
    assert not opendkimconf.parse(DEBIAN_SINGLE_KEY + "KeyTable /etc/opendkim/key.table\n").single_key


@pytest.mark.parametrize(("value", "expected"), [
    ("inet:8891@localhost", opendkimconf.Socket("inet", 8891, "localhost")),
    ("inet:8891", opendkimconf.Socket("inet", 8891, "")),
    ("inet6:8891@[::1]", opendkimconf.Socket("inet", 8891, "::1")),
    ("inet:12301@[127.0.0.1]", opendkimconf.Socket("inet", 12301, "127.0.0.1")),
    ("local:/var/spool/postfix/opendkim/opendkim.sock",
     opendkimconf.Socket("local", path="/var/spool/postfix/opendkim/opendkim.sock")),
    ("/run/opendkim.sock", opendkimconf.Socket("local", path="/run/opendkim.sock")),
    ("inet:port@localhost", None),
])
def test_socket_forms(value: str, expected) -> None:
    assert opendkimconf.parse_socket(value) == expected


@pytest.mark.parametrize(("value", "kind", "path"), [
    ("refile:/etc/opendkim/signing.table", "refile", "/etc/opendkim/signing.table"),
    ("file:/etc/opendkim/key.table", "file", "/etc/opendkim/key.table"),
    ("/etc/opendkim/key.table", "file", "/etc/opendkim/key.table"),
    ("dsn:mysql://opendkim@localhost/opendkim/table=keys", "unreadable", ""),
    ("db:/etc/opendkim/keys.db", "unreadable", ""),
])
def test_datasets(value: str, kind: str, path: str) -> None:
    ds = opendkimconf.dataset(value)
    assert (ds.kind, ds.path) == (kind, path)


def test_key_table_with_percent_domain_and_key_path() -> None:
    keys, problems = opendkimconf.parse_key_table(
        "# keyname domain:selector:keyfile\n"
        "s2026a._domainkey.example.org  example.org:s2026a:/etc/dkimkeys/s2026a.private\n"
        "customers  %:mail:/etc/dkimkeys/%/mail.private\n"
        "broken example.org:s1\n")
    assert problems == ["line 4: not 'keyname domain:selector:keyfile'"]
    fixed = keys["s2026a._domainkey.example.org"]
    assert (fixed.domain, fixed.selector, fixed.key, fixed.line) == (
        "example.org", "s2026a", "/etc/dkimkeys/s2026a.private", 2)
    assert fixed.key_is_file
    for_customer = keys["customers"].for_sender("customer.org")
    assert (for_customer.domain, for_customer.key) == ("customer.org", "/etc/dkimkeys/customer.org/mail.private")


def test_refile_wildcards_match_the_whole_address_in_file_order() -> None:
    entries = opendkimconf.parse_signing_table(
        "*@example.org      example\n*@*.example.org    example-sub\n*@example.org      second\n")
    assert [e.key_name for e in opendkimconf.matching(entries, True, "user@example.org")] == ["example"]
    assert [e.key_name for e in opendkimconf.matching(entries, True, "user@example.org", multiple=True)] == [
        "example", "second"]
    assert [e.key_name for e in opendkimconf.matching(entries, True, "user@lists.example.org")] == ["example-sub"]
    assert opendkimconf.matching(entries, True, "user@example.org.evil.test") == []
    assert opendkimconf.matching(entries, True, "user@notexample.org") == []


def test_plain_signing_table_lookup_order() -> None:
    # opendkim.conf(5) SigningTable: user@host, host, user@.domain..., .domain..., user@*, *
    entries = opendkimconf.parse_signing_table("example.org  by-domain\n.example.org  by-parent\n* fallback\n")
    assert [e.key_name for e in opendkimconf.matching(entries, False, "user@example.org")] == ["by-domain"]
    assert [e.key_name for e in opendkimconf.matching(entries, False, "user@a.example.org")] == ["by-parent"]
    assert [e.key_name for e in opendkimconf.matching(entries, False, "user@other.test")] == ["fallback"]
    # `*@example.org` is no wildcard in a plain table: a literal key nobody's address equals.
    plain = opendkimconf.parse_signing_table("*@example.org key\n")
    assert opendkimconf.matching(plain, False, "user@example.org") == []


def test_internal_hosts_default_and_booleans() -> None:
    assert opendkimconf.parse("").internal_hosts.items == ("127.0.0.1",)
    assert opendkimconf.parse("InternalHosts refile:/etc/opendkim/trusted.hosts\n").internal_hosts.kind == "refile"
    assert opendkimconf.is_true("yes") and opendkimconf.is_true("True") and not opendkimconf.is_true("no")
