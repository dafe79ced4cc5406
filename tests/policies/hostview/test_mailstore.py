"""Where Postfix stores mail: the delivery path per local(8), virtual(8), lmtp(8) and pipe(8), as
postconf(5) and the agents' manuals describe it, written as operators write main.cf by hand."""

from __future__ import annotations

import pytest
from hostview import mailstore, mailview
from pack_builders import copy_file, view_of

MAIL = "mail.example.net"
BASE = "myhostname = mail.example.net\nmydomain = example.net\n"


def paths(main: str, files: dict[str, str] | None = None, master: str | None = None) -> mailstore.Paths:
    resources = [copy_file(MAIL, "/etc/postfix/main.cf", BASE + main)]
    if master is not None:
        resources.append(copy_file(MAIL, "/etc/postfix/master.cf", master))
    resources += [copy_file(MAIL, path, text) for path, text in (files or {}).items()]
    view = view_of(*resources)
    (ph,) = mailview.postfix_hosts(view)
    return mailstore.postfix_paths(view, ph)


def stores(result: mailstore.Paths) -> list[tuple[str, str, str]]:
    return [(s.agent, s.kind, s.mailbox) for s in result.stores]


# -- local(8) -------------------------------------------------------------------------------------


def test_debian_defaults_deliver_mbox_to_var_mail() -> None:
    result = paths("")
    assert stores(result) == [("local", "mbox", "/var/mail/$USER")]
    assert result.stores[0].how == ("main.cf sets no home_mailbox and no mailbox_command, so Postfix's local(8) "
                                    "delivers to /var/mail/$USER: mail_spool_directory = /var/mail (the default of "
                                    "Debian's postfix)")


@pytest.mark.parametrize("main,expected", [
    ("home_mailbox = Maildir/\n", [("local", "maildir", "~/Maildir/")]),
    ("home_mailbox = Mailbox\n", [("local", "mbox", "~/Mailbox")]),
    ("mail_spool_directory = /var/spool/maildirs/\n", [("local", "maildir", "/var/spool/maildirs/$USER/")]),
    ("mydestination =\n", []),  # no local domains: nothing is stored locally
    ("local_transport = error:local delivery is disabled\n", []),
    ("local_transport = smtp:[relay.example.net]\n", []),
])
def test_local_delivery(main: str, expected) -> None:
    assert stores(paths(main)) == expected


def test_mailbox_transport_maps_are_not_judged() -> None:
    result = paths("mailbox_transport_maps = hash:/etc/postfix/transports\nhome_mailbox = Maildir/\n")
    assert result.stores == [] and "decides per user; not judged" in result.notes[0]


# -- mailbox_command: procmail, maildrop, Dovecot's LDA --------------------------------------------------


def test_procmail_with_maildir_default() -> None:
    result = paths('mailbox_command = /usr/bin/procmail -a "$EXTENSION"\n',
                   {"/etc/procmailrc": "MAILDIR=$HOME/Maildir\nDEFAULT=$MAILDIR/\n"})
    assert stores(result) == [("procmail", "maildir", "$HOME/Maildir/")]
    assert "local(8) runs mailbox_command = /usr/bin/procmail -a \"$EXTENSION\" (main.cf line 3)" in \
        result.stores[0].how
    assert "DEFAULT=$HOME/Maildir/ (/etc/procmailrc line 2)" in result.stores[0].how


def test_procmail_without_rcfiles_keeps_orgmail() -> None:
    assert stores(paths('mailbox_command = procmail -a "$EXTENSION"\n')) == [
        ("procmail", "mbox", "/var/mail/$LOGNAME")]


def test_procmail_user_rcfiles_are_judged_per_user() -> None:
    result = paths('mailbox_command = procmail -a "$EXTENSION"\n',
                   {"/etc/procmailrc": "DEFAULT=$HOME/Maildir/\n", "/home/alice/.procmailrc": ":0:\nsaved-mail\n"})
    assert stores(result) == [("procmail", "maildir", "$HOME/Maildir/"), ("procmail", "mbox", "$HOME/saved-mail")]
    assert "for the user of /home/alice/.procmailrc" in result.stores[1].how


def test_procmail_with_an_explicit_rcfile_not_delivered_is_a_note() -> None:
    result = paths("mailbox_command = /usr/bin/procmail -m /etc/postfix/procmailrc\n")
    assert result.stores == [] and "/etc/postfix/procmailrc, not delivered" in result.notes[0]


def test_maildrop_as_mailbox_command_and_as_the_packaged_pipe_transport() -> None:
    rc = {"/etc/maildroprc": 'DEFAULT="$HOME/Maildir/"\n'}
    assert stores(paths("mailbox_command = /usr/bin/maildrop -d ${USER}\n", rc)) == [
        ("maildrop", "maildir", "$HOME/Maildir/")]
    # Debian's packaged master.cf has `maildrop unix - n n - - pipe ... argv=/usr/bin/maildrop -d ${recipient}`.
    virtual = ("virtual_mailbox_domains = example.org\nvirtual_transport = maildrop\nmydestination =\n")
    assert stores(paths(virtual, {"/etc/maildroprc": 'DEFAULT="/var/vmail/$HOST/$USER"\n'})) == []
    result = paths(virtual, {"/etc/maildroprc": 'DEFAULT="/var/vmail/$HOST/$USER"\n'})
    assert "maildrop decides when delivering" in result.notes[0]


def test_dovecot_lda_as_mailbox_command() -> None:
    result = paths("mailbox_command = /usr/lib/dovecot/dovecot-lda -f \"$SENDER\" -a \"$RECIPIENT\"\n",
                   {"/etc/dovecot/dovecot.conf": "mail_location = maildir:~/Maildir\n"})
    assert stores(result) == [("dovecot", "maildir", "~/Maildir")]
    assert "Dovecot's effective mail_location = maildir:~/Maildir (/etc/dovecot/dovecot.conf line 1)" in \
        result.stores[0].how


def test_an_unknown_program_is_a_note() -> None:
    result = paths("mailbox_command = /usr/local/bin/deliver-to-s3\n")
    assert result.stores == [] and "not a delivery agent the pack reads" in result.notes[0]


# -- LMTP and pipe to Dovecot --------------------------------------------------------------------


LMTP_DOVECOT = """service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
"""


def test_lmtp_to_dovecot_with_the_packaged_10_mail_is_mbox() -> None:
    result = paths("mailbox_transport = lmtp:unix:private/dovecot-lmtp\n",
                   {"/etc/dovecot/conf.d/10-master.conf": LMTP_DOVECOT})
    assert stores(result) == [("dovecot", "mbox", "~/mail:INBOX=/var/mail/%u")]
    assert "Debian's packaged /etc/dovecot/conf.d/10-mail.conf line 1" in result.stores[0].how
    assert "assumed" not in result.stores[0].how  # the listener was found


def test_virtual_domains_over_lmtp_to_a_dovecot_with_maildir() -> None:
    result = paths("virtual_mailbox_domains = example.org\nvirtual_transport = lmtp:unix:private/dovecot-lmtp\n"
                   "mydestination = localhost\nhome_mailbox = Maildir/\n",
                   {"/etc/dovecot/conf.d/10-master.conf": LMTP_DOVECOT,
                    "/etc/dovecot/conf.d/10-mail.conf": "mail_location = maildir:/var/vmail/%d/%n\n"})
    assert stores(result) == [("local", "maildir", "~/Maildir/"), ("dovecot", "maildir", "/var/vmail/%d/%n")]


def test_lmtp_without_dovecot_config_is_a_note() -> None:
    result = paths("virtual_mailbox_domains = example.org\nvirtual_transport = lmtp:inet:127.0.0.1:24\n"
                   "mydestination =\n")
    assert result.stores == [] and "delivers no Dovecot config" in result.notes[0]


def test_dovecot_pipe_transport_in_master_cf() -> None:
    master = ("smtp inet n - y - - smtpd\n"
              "local unix - n n - - local\n"
              "dovecot   unix  -       n       n       -       -       pipe\n"
              "  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -f ${sender} -d ${recipient}\n")
    result = paths("virtual_mailbox_domains = example.org\nvirtual_transport = dovecot\nmydestination =\n",
                   {"/etc/dovecot/dovecot.conf": "mail_location = mbox:/var/vmail/%d/%n\n"}, master)
    assert stores(result) == [("dovecot", "mbox", "/var/vmail/%d/%n")]
    assert "master.cf service 'dovecot' (pipe argv=/usr/lib/dovecot/deliver" in result.stores[0].how


# -- virtual(8) ------------------------------------------------------------------------------------------


VIRTUAL = ("virtual_mailbox_domains = example.org\nvirtual_mailbox_base = /var/vmail\n"
           "virtual_mailbox_maps = hash:/etc/postfix/vmailbox\nvirtual_uid_maps = static:5000\n"
           "virtual_gid_maps = static:5000\nmydestination =\n")


def test_virtual_maps_entries_ending_in_slash_are_maildir() -> None:
    result = paths(VIRTUAL, {"/etc/postfix/vmailbox": "# virtual(8)\ninfo@example.org  example.org/info/\n"
                                                      "sales@example.org example.org/sales\n"})
    assert stores(result) == [("virtual", "maildir", "/var/vmail/example.org/info/"),
                              ("virtual", "mbox", "/var/vmail/example.org/sales")]
    assert "(/etc/postfix/vmailbox line 3)" in result.stores[1].how


def test_virtual_maps_external_or_missing_are_notes() -> None:
    external = paths(VIRTUAL.replace("hash:/etc/postfix/vmailbox", "proxy:mysql:/etc/postfix/mysql-vmailbox.cf"))
    assert external.stores == [] and "external table" in external.notes[0]
    missing = paths(VIRTUAL)
    assert missing.stores == [] and "/etc/postfix/vmailbox is not delivered" in missing.notes[0]


def test_master_cf_without_the_local_service_is_judged_as_the_standard_one_with_a_note() -> None:
    result = paths("home_mailbox = Maildir/\n", master="smtp inet n - y - - smtpd\n")
    assert stores(result) == [("local", "maildir", "~/Maildir/")]
    assert "has no unix service 'local'" in result.notes[0]
