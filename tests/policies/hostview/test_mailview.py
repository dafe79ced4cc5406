"""Mail hosts per machine: Postfix instances joined with Debian's defaults, Dovecot's effective settings
across its includes (cross-checked with doveconf on the same tree)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hostview import hosts, mailview
from pack_builders import copy_file, record, tool, view_of, zone
from readers import dovecotconf

MAIL = "mail.example.net"


def _view(*files: tuple[str, str], host: str = MAIL, extra=()):
    z = zone("example.net")
    return view_of(z, record(MAIL, "A", "198.51.100.25", zone_resource=z),
                   *[copy_file(host, path, text) for path, text in files], *extra)


def test_one_instance_per_machine_and_directory_spellings_joined() -> None:
    view = _view(("/etc/postfix/main.cf", "myhostname = mail.example.net\n"),
                 extra=[copy_file("198.51.100.25", "/etc/postfix/isp-staging/master.cf",
                                  "smtp inet n - y - - smtpd\n"),
                        copy_file(MAIL, "/etc/postfix-out/main.cf", "myhostname = out.example.net\n")])
    instances = mailview.postfix_hosts(view)
    assert [(ph.config_dir, ph.files) for ph in instances] == [
        ("/etc/postfix", "/etc/postfix/main.cf + /etc/postfix/master.cf"),
        ("/etc/postfix-out", "/etc/postfix-out/main.cf")]
    assert instances[0].label == "mail.example.net (198.51.100.25)"
    assert instances[0].master is not None and instances[1].master is None
    # Without a delivered master.cf, Debian's packaged one runs (local, virtual, lmtp, maildrop...).
    assert instances[1].effective_master.service("maildrop").command == "pipe"
    assert instances[1].value("message_size_limit") == "10240000"
    assert mailview.postfix_hosts(view) is instances  # memoised on the view


def test_a_staged_copy_elsewhere_is_not_an_instance_when_etc_postfix_has_one() -> None:
    view = _view(("/etc/postfix/main.cf", "myhostname = mail.example.net\n"),
                 ("/root/main.cf", "myhostname = old.example.net\n"))
    assert [ph.config_dir for ph in mailview.postfix_hosts(view)] == ["/etc/postfix"]


def test_unknown_text_is_unreadable() -> None:
    from pack_builders import SECRET, SIG, UNKNOWN, resource
    copy = resource("command:remote:CopyToRemote", "main", {
        "connection": {SIG: SECRET, "value": {"host": MAIL}}, "source": UNKNOWN, "remotePath": "/etc/postfix/main.cf"})
    (ph,) = mailview.postfix_hosts(view_of(copy))
    assert "unknown during preview" in ph.unreadable()


# -- Dovecot ----------------------------------------------------------------------------------


def _dovecot(files: dict[str, str], packages=()) -> mailview.DovecotConfig | None:
    view = _view(*files.items())
    (machine,) = hosts.of(view)
    return mailview.dovecot_config(view, machine)


def test_no_dovecot_on_a_machine_without_its_files() -> None:
    assert _dovecot({"/etc/postfix/main.cf": "myhostname = mail.example.net\n"}) is None


def test_packaged_dovecot_conf_includes_a_delivered_conf_d_file() -> None:
    cfg = _dovecot({"/etc/dovecot/conf.d/10-mail.conf": "mail_location = maildir:~/Maildir\n"})
    storage, used = cfg.storage()
    assert (storage.driver, storage.path) == ("maildir", "~/Maildir")
    assert used[0].origin == "/etc/dovecot/conf.d/10-mail.conf line 1"
    assert cfg.chain.startswith("/etc/dovecot/dovecot.conf (packaged) -> /etc/dovecot/conf.d/10-mail.conf ->")


def test_a_delivered_root_that_includes_conf_d_keeps_the_packaged_10_mail() -> None:
    cfg = _dovecot({"/etc/dovecot/dovecot.conf": "protocols = imap lmtp\n!include conf.d/*.conf\n"})
    storage, used = cfg.storage()
    assert storage.is_mbox and used[0].packaged
    assert used[0].origin == "Debian's packaged /etc/dovecot/conf.d/10-mail.conf line 1"


def test_later_settings_win_and_include_try_is_optional() -> None:
    cfg = _dovecot({
        "/etc/dovecot/dovecot.conf": "!include conf.d/*.conf\n!include_try local.conf\n!include_try /nope/*.conf\n",
        "/etc/dovecot/local.conf": "mail_location = maildir:~/Maildir\nnamespace inbox {\n  inbox = yes\n}\n"})
    storage, used = cfg.storage()
    assert storage.driver == "maildir" and used[0].file == "/etc/dovecot/local.conf"
    assert cfg.notes == ()


def test_a_standalone_root_reads_nothing_packaged() -> None:
    cfg = _dovecot({"/etc/dovecot/dovecot.conf": "mail_location = maildir:~/Maildir\n"})
    assert cfg.files == ("/etc/dovecot/dovecot.conf",) and cfg.storage()[0].driver == "maildir"


def test_a_missing_include_is_a_note_and_the_inbox_namespace_location_wins() -> None:
    cfg = _dovecot({"/etc/dovecot/dovecot.conf": "!include /etc/dovecot/mail.conf\nmail_location = maildir:~/M\n"
                    "namespace inbox {\n  inbox = yes\n  location = mbox:~/mail:INBOX=/var/mail/%u\n}\n"})
    assert cfg.notes and "which the stack does not deliver" in cfg.notes[0]
    assert cfg.storage()[0].is_mbox


def test_protocol_override_and_lmtp_listeners() -> None:
    cfg = _dovecot({"/etc/dovecot/dovecot.conf": """mail_location = mbox:~/mail:INBOX=/var/mail/%u
protocol lmtp {
  mail_location = maildir:~/Maildir
}
service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
  }
  inet_listener lmtp {
    port = 24
  }
}
"""})
    assert cfg.storage("lmtp")[0].driver == "maildir" and cfg.storage("imap")[0].is_mbox
    assert [(kind, where) for kind, where, _ in cfg.listeners("lmtp")] == [
        ("unix", "/var/spool/postfix/private/dovecot-lmtp"), ("inet", "24")]


def test_dovecot_24_settings() -> None:
    cfg = _dovecot({"/etc/dovecot/dovecot.conf": "dovecot_config_version = 2.4.0\nmail_driver = maildir\n"
                    "mail_path = ~/Maildir\n"})
    storage, used = cfg.storage()
    assert cfg.version == "2.4" and (storage.driver, storage.path) == ("maildir", "~/Maildir") and len(used) == 2


@pytest.mark.parametrize("delivered", [
    {},
    {"conf.d/10-mail.conf": "mail_location = maildir:~/Maildir\n"},
    {"local.conf": "mail_location = maildir:~/Mail/\n"},
    {"conf.d/99-isp.conf": "mail_location = sdbox:~/dbox\n"},
    {"dovecot.conf": "!include conf.d/*.conf\n", "conf.d/10-mail.conf": "mail_location = maildir:~/Maildir\n",
     "conf.d/20-override.conf": "mail_location = mbox:~/mail\n"},
])
def test_effective_mail_location_matches_doveconf(tmp_path: Path, delivered: dict[str, str]) -> None:
    """The same tree, built from the installed package plus the delivered files, read by doveconf."""
    packaged = Path("/usr/share/dovecot")
    if not (packaged / "dovecot.conf").exists():
        pytest.skip("dovecot-core is not installed")
    shutil.copy(packaged / "dovecot.conf", tmp_path / "dovecot.conf")
    shutil.copytree(packaged / "conf.d", tmp_path / "conf.d")
    for rel, text in delivered.items():
        (tmp_path / rel).write_text(text)
    result = subprocess.run([tool("doveconf"), "-c", str(tmp_path / "dovecot.conf"), "-h", "mail_location"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cfg = _dovecot({f"/etc/dovecot/{rel}": text for rel, text in delivered.items()} or {
        "/etc/dovecot/conf.d/15-mailboxes.conf": "# nothing about storage\n"})
    storage, used = cfg.storage()
    assert used[-1].value == result.stdout.strip()


def test_the_packaged_files_are_known() -> None:
    assert set(dovecotconf.DEBIAN_FILES) >= {mailview.DOVECOT_ROOT, "/etc/dovecot/conf.d/10-mail.conf"}
