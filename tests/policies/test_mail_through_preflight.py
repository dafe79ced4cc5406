"""The mail policies end to end on a hand-written mail host (programs/mailhand) through preflight:
delivery agents (procmail, local(8) defaults, LMTP to Dovecot, virtual(8)) and policy services (postfwd,
cluebringer), each violating case caught with its message, each compliant case clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

MAILHAND = Path(__file__).parent / "programs" / "mailhand"
MAIL_POLICIES = ("maildir-not-mbox", "daily-send-limit", "message-size-limit", "submission-requires-auth",
                 "smtp-banner-matches-ptr", "mail-host-fcrdns")
LABEL = "mail.example.net (198.51.100.25)"


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "mailhand"
    shutil.copytree(MAILHAND, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"mailhand:case": case}}))
    return project


@pytest.mark.parametrize(("case", "policy", "expected"), [
    ("procmail-postfwd", None, None),
    ("cluebringer-virtual", None, None),
    ("no-home-mailbox", "maildir-not-mbox",
     f"{LABEL}: mail is stored as mbox — main.cf sets no home_mailbox and no mailbox_command, so Postfix's local(8) "
     "delivers to /var/mail/$USER: mail_spool_directory = /var/mail (the default of Debian's postfix)"),
    ("postfwd-by-client", "daily-send-limit",
     "rule DAILY (line 2) rate(client_address/200/86400) counts per client_address, not per account"),
    ("lmtp-packaged-dovecot", "maildir-not-mbox",
     "Dovecot's effective mail_location = mbox:~/mail:INBOX=/var/mail/%u (Debian's packaged "
     "/etc/dovecot/conf.d/10-mail.conf line 1)"),
])
def test_hand_written_mail_host(tmp_path, case, policy, expected):
    status, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    assert status == 0, output  # every mail policy but FCrDNS is advisory
    for name in MAIL_POLICIES:
        found = violations_of(document, name)
        if name != policy:
            assert found == [], (name, found)
            continue
        assert found and {v["enforcementLevel"] for v in found} == {"advisory"}, found
        assert any(expected in v["message"] for v in found), [v["message"] for v in found]
