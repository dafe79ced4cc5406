"""Dovecot's config syntax, read as Dovecot reads it (doveconf(1) on the same text where it matters)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pack_builders import tool
from readers import dovecotconf


def test_settings_sections_and_includes_in_order() -> None:
    text = """# Dovecot as an operator writes it
mail_location = maildir:~/Maildir   # a trailing comment
namespace inbox {
  inbox = yes
  mailbox "Sent Messages" {
    special_use = \\Sent
  }
}
service lmtp { unix_listener /var/spool/postfix/private/dovecot-lmtp { mode = 0600 } }
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
!include conf.d/*.conf
!include_try "local.conf"
ssl_cert = </etc/ssl/mail.pem
"""
    parsed = dovecotconf.parse(text)
    assert parsed.problems == ()
    assert [(s.key, s.value, s.section, s.line) for s in parsed.settings] == [
        ("mail_location", "maildir:~/Maildir", "", 2),
        ("inbox", "yes", "namespace inbox", 4),
        ("special_use", "\\Sent", "namespace inbox / mailbox Sent Messages", 6),
        ("mode", "0600", "service lmtp / unix_listener /var/spool/postfix/private/dovecot-lmtp", 9),
        ("mail_plugins", "$mail_plugins sieve", "protocol lmtp", 11),
        ("ssl_cert", "</etc/ssl/mail.pem", "", 15),
    ]
    assert [(i.pattern, i.optional, i.line) for i in parsed.includes] == [("conf.d/*.conf", False, 13),
                                                                        ("local.conf", True, 14)]
    sections = [(e.name, e.parent) for e in parsed.entries if isinstance(e, dovecotconf.Section)]
    assert ("unix_listener /var/spool/postfix/private/dovecot-lmtp", "service lmtp") in sections


def test_unbalanced_and_unreadable_lines_are_problems() -> None:
    assert dovecotconf.parse("namespace inbox {\n  inbox = yes\n").problems
    assert dovecotconf.parse("}\n").problems
    assert dovecotconf.parse("just words\n").problems
    assert dovecotconf.parse("!include\n").problems


@pytest.mark.parametrize("value,driver,path", [
    ("maildir:~/Maildir", "maildir", "~/Maildir"),
    ("mbox:~/mail:INBOX=/var/mail/%u", "mbox", "~/mail:INBOX=/var/mail/%u"),
    ("sdbox:~/dbox", "sdbox", "~/dbox"),
    ("", "", ""),
    ("~/Maildir", "", "~/Maildir"),
])
def test_storage_of_location(value: str, driver: str, path: str) -> None:
    storage = dovecotconf.storage_of_location(value)
    assert (storage.driver, storage.path) == (driver, path)
    assert storage.is_mbox == (driver == "mbox")


def test_debian_files_match_the_installed_package() -> None:
    """The packaged settings the pack assumes are the ones dovecot-core ships (when it is installed)."""
    shipped = {"/etc/dovecot/dovecot.conf": Path("/usr/share/dovecot/dovecot.conf"),
               "/etc/dovecot/conf.d/10-mail.conf": Path("/usr/share/dovecot/conf.d/10-mail.conf")}
    if not all(p.exists() for p in shipped.values()):
        pytest.skip("dovecot-core is not installed")
    for path, real in shipped.items():
        ours = dovecotconf.parse(dovecotconf.DEBIAN_FILES[path])
        theirs = dovecotconf.parse(real.read_text())
        assert [(s.key, s.value, s.section) for s in ours.settings] == [
            (s.key, s.value, s.section) for s in theirs.settings]
        assert [i.pattern for i in ours.includes] == [i.pattern for i in theirs.includes]
    master = dovecotconf.parse(Path("/usr/share/dovecot/conf.d/10-master.conf").read_text())
    assert dovecotconf.Section("unix_listener lmtp", "service lmtp", 0).name in [
        e.name for e in master.entries if isinstance(e, dovecotconf.Section) and e.parent == "service lmtp"]


def test_doveconf_reads_the_fixture_the_same_way(tmp_path) -> None:
    text = ("mail_location = mbox:~/mail:INBOX=/var/mail/%u\n"
            "mail_location = maildir:~/Maildir\n"
            "protocol lmtp {\n  mail_location = maildir:~/Mail/\n}\n")
    conf = tmp_path / "dovecot.conf"
    conf.write_text(text)
    result = subprocess.run([tool("doveconf"), "-c", str(conf), "-h", "mail_location"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    last = [s for s in dovecotconf.parse(text).settings if s.key == "mail_location" and not s.section][-1]
    assert result.stdout.strip() == last.value == "maildir:~/Maildir"


def test_mbox_settings_in_one_file() -> None:
    found = dovecotconf.mbox_settings("namespace archive {\n  location = mbox:~/archive\n}\nmail_driver = mbox\n")
    assert [(s.key, s.section) for s in found] == [("location", "namespace archive"), ("mail_driver", "")]
