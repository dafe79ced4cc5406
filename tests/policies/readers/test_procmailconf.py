"""procmail rcfiles, written as procmailrc(5) and procmailex(5) show them."""

from __future__ import annotations

import pytest
from readers import procmailconf


def run(*files: tuple[str, str], extra: dict[str, str] | None = None, assignments=None) -> procmailconf.Outcome:
    parsed = [(path, procmailconf.parse(text)) for path, text in files]
    others = {path: procmailconf.parse(text) for path, text in (extra or {}).items()}
    return procmailconf.evaluate(parsed, others.get, assignments)


def kinds(outcome: procmailconf.Outcome) -> list[tuple[str, str, str, bool]]:
    return [(d.source, d.mailbox, d.kind, d.conditional) for d in outcome.deliveries]


def test_default_maildir_with_a_trailing_slash() -> None:
    outcome = run(("/etc/procmailrc", "# system-wide\nMAILDIR=$HOME/Maildir\nDEFAULT=$MAILDIR/\n"))
    assert kinds(outcome) == [("DEFAULT", "$HOME/Maildir/", "maildir", False)]
    assert outcome.deliveries[0].line == 3 and outcome.default_reached


def test_no_default_is_orgmail_an_mbox_and_maildir_alone_changes_nothing() -> None:
    assert kinds(run()) == [("DEFAULT", "/var/mail/$LOGNAME", "mbox", False)]
    outcome = run(("/etc/procmailrc", "MAILDIR=$HOME/Maildir/   # only the working directory\n"))
    assert kinds(outcome) == [("DEFAULT", "/var/mail/$LOGNAME", "mbox", False)]


def test_recipes_conditions_copies_and_blocks() -> None:
    text = """SHELL=/bin/sh
MAILDIR="$HOME/Maildir"
DEFAULT="$MAILDIR/"
LOGFILE=$HOME/.procmail.log

:0:
* ^List-Id:.*debian-user
lists/debian

:0 c
backup/

:0
* ^X-Spam-Flag: YES
{
  :0
  .Junk/
}

:0 fw
| /usr/bin/spamc

:0
* ^From:.*boss
! me@example.org
"""
    outcome = run(("/home/alice/.procmailrc", text))
    assert kinds(outcome) == [
        ("recipe", "$HOME/Maildir/lists/debian", "mbox", True),
        ("recipe", "$HOME/Maildir/backup/", "maildir", False),
        ("recipe", "$HOME/Maildir/.Junk/", "maildir", True),
        ("recipe", "! me@example.org", "forward", True),
        ("DEFAULT", "$HOME/Maildir/", "maildir", False),
    ]


def test_an_unconditional_delivery_ends_processing() -> None:
    outcome = run(("/etc/procmailrc", ":0\n$HOME/Maildir/\n"), ("/home/bob/.procmailrc", "DEFAULT=/var/mail/bob\n"))
    assert kinds(outcome) == [("recipe", "$HOME/Maildir/", "maildir", False)]
    assert not outcome.default_reached


def test_includerc_and_switchrc_are_followed() -> None:
    outcome = run(("/etc/procmailrc", "INCLUDERC=/etc/procmail/maildir.rc\nLOGFILE=/dev/null\n"),
                  extra={"/etc/procmail/maildir.rc": "DEFAULT=$HOME/Maildir/\n"})
    assert kinds(outcome)[-1] == ("DEFAULT", "$HOME/Maildir/", "maildir", False)
    assert outcome.deliveries[-1].file == "/etc/procmail/maildir.rc"
    missing = run(("/etc/procmailrc", "SWITCHRC=/etc/procmail/other.rc\nDEFAULT=$HOME/Maildir/\n"))
    assert missing.notes and "not delivered" in missing.notes[0]
    assert kinds(missing) == [("DEFAULT", "/var/mail/$LOGNAME", "mbox", False)]  # SWITCHRC: the rest is not read


@pytest.mark.parametrize("value,expected", [
    ("$HOME/Maildir/", "/home/a/Maildir/"),
    ('"${HOME}/Maildir/"', "/home/a/Maildir/"),
    ("'$HOME/Maildir/'", "$HOME/Maildir/"),
    ("${MAILDIR:-$HOME/Mail}/", "/home/a/Mail/"),
    ("$UNSET/x", "$UNSET/x"),
])
def test_expansion(value: str, expected: str) -> None:
    assert procmailconf.expand(value, {"HOME": "/home/a"}) == expected


@pytest.mark.parametrize("name,kind", [
    ("Maildir/", "maildir"), ("Mail/inbox/.", "mh"), ("/var/mail/bob", "mbox"), ("/dev/null", "discard"),
    ("| /usr/bin/spamc", "pipe"), ("! a@b", "forward"), ("`formail -xTo:`", "unknown"),
])
def test_folder_kinds(name: str, kind: str) -> None:
    assert procmailconf.folder_kind(name) == kind


def test_command_line() -> None:
    call = procmailconf.invocation(["-a", "$EXTENSION"])
    assert call.rcfiles == () and call.assignments == {}
    call = procmailconf.invocation(["-t", "-a", "$EXTENSION", "DEFAULT=$HOME/Maildir/", "/etc/postfix/procmailrc"])
    assert call.rcfiles == ("/etc/postfix/procmailrc",) and call.assignments == {"DEFAULT": "$HOME/Maildir/"}
    assert procmailconf.invocation(["-m", "/etc/procmail/filter.rc", "user@example.net", "extra"]).rcfiles == (
        "/etc/procmail/filter.rc",)
    outcome = run(assignments=call.assignments)
    assert kinds(outcome) == [("DEFAULT", "$HOME/Maildir/", "maildir", False)]


def test_unreadable_lines_are_problems() -> None:
    assert procmailconf.parse(":0\n* ^From\n").problems
    assert procmailconf.parse("not an assignment or recipe\n").problems
