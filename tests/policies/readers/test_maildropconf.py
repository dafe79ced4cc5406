"""maildrop filter files, written as maildropfilter(7) and maildropex(7) show them."""

from __future__ import annotations

import pytest
from readers import maildropconf


def run(*files: tuple[str, str], extra: dict[str, str] | None = None) -> maildropconf.Outcome:
    parsed = [(path, maildropconf.parse(text)) for path, text in files]
    others = {path: maildropconf.parse(text) for path, text in (extra or {}).items()}
    return maildropconf.evaluate(parsed, others.get)


def kinds(outcome: maildropconf.Outcome) -> list[tuple[str, str, str, bool]]:
    return [(d.source, d.mailbox, d.kind, d.conditional) for d in outcome.deliveries]


def test_default_with_trailing_slash_is_maildir() -> None:
    outcome = run(("/etc/maildroprc", 'MAILDIR="$HOME/Maildir"\nDEFAULT="$MAILDIR/"\n'))
    assert kinds(outcome) == [("DEFAULT", "$HOME/Maildir/", "maildir", False)]
    assert outcome.default_set and outcome.deliveries[0].line == 2


def test_without_slash_maildrop_decides_at_delivery_and_unset_is_the_system_mailbox() -> None:
    assert kinds(run(("/etc/maildroprc", 'DEFAULT="$HOME/Maildir"\n'))) == [
        ("DEFAULT", "$HOME/Maildir", "undetermined", False)]
    assert kinds(run(("/etc/maildroprc", "# nothing\n"))) == [("DEFAULT", "/var/mail/$LOGNAME", "mbox", False)]


def test_filters_deliveries_and_includes() -> None:
    rc = """# maildropex(7)
if (/^Delivered-To: *auto@domain\\.com$/)
        to Mail/auto

if (/^From: *boss@domain\\.com/ \\
    && /^Subject:.*project status/)
{
        cc "!john"
        to Mail/project/
}
cc "$HOME/backup/"
include "$HOME/.mailfilters/spam"
to "$HOME/Maildir/"
exit
"""
    outcome = run(("/etc/maildroprc", 'DEFAULT="$HOME/Maildir/"\n'), ("/home/alice/.mailfilter", rc),
                  extra={"$HOME/.mailfilters/spam": 'if (/^X-Spam-Flag: YES/:h) to "$HOME/Maildir/.Junk/"\n'})
    assert kinds(outcome) == [
        ("to", "Mail/auto", "undetermined", True),
        ("cc", "!john", "forward", True),
        ("to", "Mail/project/", "maildir", True),
        ("cc", "$HOME/backup/", "maildir", False),
        ("to", "$HOME/Maildir/.Junk/", "maildir", True),
        ("to", "$HOME/Maildir/", "maildir", False),
    ]
    assert outcome.notes == ()


def test_missing_include_is_a_note() -> None:
    outcome = run(("/etc/maildroprc", 'include "/etc/maildrop/common"\n'))
    assert outcome.notes and "not delivered" in outcome.notes[0]


@pytest.mark.parametrize("name,kind", [
    ("$HOME/Maildir/", "maildir"), ("/var/mail/bob", "undetermined"), ("| /usr/bin/spamc", "pipe"),
    ("!bob@example.org", "forward"), ("/dev/null", "discard"), ("`echo x`", "unknown"),
])
def test_mailbox_kinds(name: str, kind: str) -> None:
    assert maildropconf.mailbox_kind(name) == kind


def test_unreadable_statements_are_problems() -> None:
    assert maildropconf.parse("frobnicate the mail\n").problems
