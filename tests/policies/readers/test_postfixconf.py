"""main.cf/master.cf reading, cross-checked with Postfix's own `postconf` on the same files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pack_builders import tool
from readers import dovecotconf, postfixconf, ratelimitconf

MAIN_CF = """# a comment
myhostname = mail.example.net
mydomain = example.net
  # an indented comment is still a comment
smtpd_banner = $myhostname ESMTP ${mail_name}
mua_client_restrictions = permit_sasl_authenticated,
    reject
smtpd_recipient_restrictions =
    check_policy_service unix:ratelimit/policy
    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
2bounce_notice_recipient = ${smtp_bind_address?bound}${smtp_bind_address:unbound}
message_size_limit = 10240000
message_size_limit = 26214400
"""

MASTER_CF = """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=$mua_client_restrictions
#2525      inet  n       -       y       -       -       smtpd
submissions     inet  n       -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
0.0.0.0:2525 inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       y       60      1       pickup
"""


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "main.cf").write_text(MAIN_CF)
    (tmp_path / "master.cf").write_text(MASTER_CF)
    return tmp_path


def postconf(config_dir, *args: str) -> str:
    result = subprocess.run([tool("postconf"), "-c", str(config_dir), *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


EXPANDED = ["myhostname", "smtpd_banner", "mua_client_restrictions", "smtpd_recipient_restrictions",
            "message_size_limit", "2bounce_notice_recipient", "smtp_helo_name", "smtpd_sasl_auth_enable"]


def test_expansion_matches_postconf(config_dir) -> None:
    theirs = dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
                  for line in postconf(config_dir, "-x", *EXPANDED).splitlines())
    ours = postfixconf.parse_main_cf(MAIN_CF)
    assert set(theirs) == set(EXPANDED)
    for name in EXPANDED:
        assert postfixconf.split_list(ours.get(name)) == postfixconf.split_list(theirs[name]), name


def test_myhostname_without_a_setting_is_unknown() -> None:
    conf = postfixconf.parse_main_cf("mydomain = example.net\n")
    assert conf.get("myhostname") is None and conf.get("smtpd_banner") is None
    assert conf.get("message_size_limit") == "10240000"


def test_master_services_match_postconf(config_dir) -> None:
    master = postfixconf.parse_master_cf(MASTER_CF)
    assert not master.problems
    listed = [line.split()[0] for line in postconf(config_dir, "-M").splitlines()]
    assert [s.name for s in master.services] == listed
    by_name = {s.name: s for s in master.services}
    assert by_name["submission"].port == 587 and by_name["submissions"].port == 465
    assert by_name["0.0.0.0:2525"].port == 2525 and by_name["pickup"].port is None
    assert by_name["submissions"].overrides == {"smtpd_tls_wrappermode": "yes",
                                                 "smtpd_client_restrictions": "permit_sasl_authenticated, reject"}
    main = postfixconf.parse_main_cf(MAIN_CF)
    assert main.get("smtpd_client_restrictions", by_name["submission"].overrides) == "permit_sasl_authenticated, reject"


def test_bad_lines_are_problems() -> None:
    assert postfixconf.parse_main_cf("just words\n= x\n").problems
    assert postfixconf.parse_master_cf("smtp inet n\n").problems


def test_rate_limit_yaml_defaults_and_caps() -> None:
    shipped_path = Path("/etc/policyd-rate-limit.yaml")  # the Debian package's own file, when installed
    if shipped_path.exists():
        shipped = ratelimitconf.parse_rate_limit_yaml(shipped_path.read_text())
        assert shipped.problems == [] and ratelimitconf.daily_cap(shipped.limits) == 150
    empty = ratelimitconf.parse_rate_limit_yaml("")
    assert empty.limits == [(10, 60), (150, 86400)] and empty.limit_by_sasl
    assert ratelimitconf.daily_cap([(10, 3600)]) == 240
    assert ratelimitconf.daily_cap([(1000, 604800)]) == 1000
    assert ratelimitconf.daily_cap([]) == float("inf")
    assert ratelimitconf.parse_rate_limit_yaml("limits: [[x, 1]]\n").problems
    assert ratelimitconf.parse_rate_limit_yaml("limits: [\n").problems
    # Found by tests/fuzz/test_policy_fuzz.py: a file of 2,000 "{" used to escape as a RecursionError.
    assert ratelimitconf.parse_rate_limit_yaml("{" * 2000).problems == [
        "not valid YAML: nested deeper than the reader can follow"]


def test_dovecot_mbox_settings(tmp_path) -> None:
    text = ("mail_location = maildir:~/Maildir\n"
            "namespace inbox {\n  inbox = yes\n  mail_location = mbox:~/mail:INBOX=/var/mail/%u\n}\n"
            "# mail_location = mbox:~/old\n")
    found = dovecotconf.mbox_settings(text)
    assert [(s.section, s.line) for s in found] == [("namespace inbox", 4)]
    assert dovecotconf.mbox_settings("mail_driver = mbox\n")
    assert dovecotconf.mbox_settings("mail_location = maildir:~/Maildir\n") == []
    # The fixture is a configuration Dovecot itself reads.
    conf = tmp_path / "dovecot.conf"
    conf.write_text("mail_location = mbox:~/mail:INBOX=/var/mail/%u\n")
    result = subprocess.run([tool("doveconf"), "-c", str(conf), "-h", "mail_location"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("mbox:"), result.stderr


# -- Debian's defaults, as Postfix itself reports them ------------------------------------


def test_defaults_table_is_postconf_d() -> None:
    """Every static default in the table is what Debian's postfix reports with `postconf -d`."""
    names = sorted(postfixconf.DEFAULTS)
    result = subprocess.run([tool("postconf"), "-d", *names], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    theirs = dict(line.split(" =", 1) for line in result.stdout.splitlines())
    assert {name: value.strip() for name, value in theirs.items()} == postfixconf.DEFAULTS


def test_compatibility_level_defaults_follow_postconf(tmp_path) -> None:
    for level, relay in (("0", ""), ("3.6", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination")):
        (tmp_path / "main.cf").write_text(f"compatibility_level = {level}\nmyhostname = mail.example.net\n")
        (tmp_path / "master.cf").write_text("")
        theirs = postconf(tmp_path, "-x", "smtpd_relay_restrictions", "relay_domains").splitlines()
        ours = postfixconf.parse_main_cf(f"compatibility_level = {level}\nmyhostname = mail.example.net\n")
        assert theirs[0].split(" =", 1)[1].strip() == relay == ours.get("smtpd_relay_restrictions")
        assert theirs[1].split(" =", 1)[1].strip() == (ours.get("relay_domains") or "")


def test_mailbox_command_is_not_expanded_and_mydomain_derives(tmp_path) -> None:
    text = ('myhostname = mail.example.net\nmailbox_command = /usr/bin/procmail -a "$EXTENSION"\n'
            'home_mailbox = $mydomain/\n')
    (tmp_path / "main.cf").write_text(text)
    (tmp_path / "master.cf").write_text("")
    theirs = postconf(tmp_path, "-x", "mailbox_command", "home_mailbox").splitlines()
    ours = postfixconf.parse_main_cf(text)
    assert theirs == [f"mailbox_command = {ours.get('mailbox_command')}", f"home_mailbox = {ours.get('home_mailbox')}"]
    assert ours.get("mailbox_command") == '/usr/bin/procmail -a "$EXTENSION"' and ours.get("mydomain") == "example.net"
    assert ours.where("home_mailbox") == "main.cf line 3" and ours.where("mail_spool_directory").endswith("default")
    assert ours.where("home_mailbox", {"home_mailbox": "x/"}) == "a master.cf -o override"


def test_debian_master_cf_is_the_packaged_one() -> None:
    shipped = Path("/usr/share/postfix/master.cf.dist")
    ours = postfixconf.parse_master_cf(postfixconf.DEBIAN_MASTER_CF)
    if shipped.exists():
        theirs = postfixconf.parse_master_cf(shipped.read_text())

        def facts(conf):
            return [(s.name, s.service_type, s.private, s.chroot, s.command, dict(s.overrides), s.args)
                    for s in conf.services]
        assert facts(ours) == facts(theirs)
    assert ours.service("maildrop").argv == ("/usr/bin/maildrop", "-d", "${recipient}")
    assert ours.service("local").command == "local" and ours.service("lmtp").command == "lmtp"
    assert ours.service("smtp", "inet").command == "smtpd" and ours.service("nope") is None


def test_restrictions_keep_arguments_and_brace_groups() -> None:
    value = ("permit_mynetworks, check_client_access hash:/etc/postfix/access, "
             "check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }, "
             "permit_sasl_authenticated reject_rbl_client zen.spamhaus.org, "
             "check_policy_service unix:private/policyd, reject")
    items = postfixconf.restrictions(value)
    assert [(i.name, i.arg) for i in items] == [
        ("permit_mynetworks", ""), ("check_client_access", "hash:/etc/postfix/access"),
        ("check_policy_service", "inet:127.0.0.1:10040"), ("permit_sasl_authenticated", ""),
        ("reject_rbl_client", "zen.spamhaus.org"), ("check_policy_service", "unix:private/policyd"), ("reject", "")]
    assert items[2].attributes == ("timeout=10s", "default_action=DUNNO")


@pytest.mark.parametrize("text,expected", [
    ("inet:127.0.0.1:10040", ("inet", "127.0.0.1", 10040, "")),
    ("inet:[::1]:8552", ("inet", "::1", 8552, "")),
    ("unix:private/policyd", ("unix", "", None, "/var/spool/postfix/private/policyd")),
    ("unix:/run/policy.sock", ("unix", "", None, "/run/policy.sock")),
    ("private/dovecot-lmtp", ("unix", "", None, "/var/spool/postfix/private/dovecot-lmtp")),
])
def test_endpoints(text: str, expected) -> None:
    found = postfixconf.endpoint(text)
    assert (found.kind, found.host, found.port, found.path) == expected
    assert postfixconf.endpoint("inet:") is None


def test_tables_and_their_entries() -> None:
    tables = postfixconf.tables("hash:/etc/postfix/vmailbox, proxy:mysql:/etc/postfix/mysql.cf inline:{ a@x=x/a/ }")
    assert [str(t) for t in tables] == ["hash:/etc/postfix/vmailbox", "mysql:/etc/postfix/mysql.cf",
                                        "inline:{ a@x=x/a/ }"]
    assert [t.readable for t in tables] == [True, False, True]
    text = "# comment\nalice@example.net  example.net/alice/\nbob@example.net\texample.net/bob\n"
    assert postfixconf.table_entries(tables[0], text) == [("alice@example.net", "example.net/alice/", 2),
                                                          ("bob@example.net", "example.net/bob", 3)]
    assert postfixconf.table_entries(tables[2], None) == [("a@x", "x/a/", 0)]
    pcre = postfixconf.Table("pcre", "/etc/postfix/vmailbox.pcre")
    assert postfixconf.table_entries(pcre, "/^(.+)@example\\.net$/  example.net/$1/\n") == [
        ("/^(.+)@example\\.net$/", "example.net/$1/", 1)]


def test_rate_limit_socket() -> None:
    assert ratelimitconf.parse_rate_limit_yaml("").socket == "/var/spool/postfix/ratelimit/policy"
    assert ratelimitconf.parse_rate_limit_yaml('SOCKET: ["127.0.0.1", 8552]\n').socket == ("127.0.0.1", 8552)
    assert ratelimitconf.parse_rate_limit_yaml("SOCKET: 5\n").problems
