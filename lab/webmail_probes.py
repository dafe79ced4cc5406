"""`webmail-login` (lessons 10, 11): a customer uses Roundcube on the webmail host, over HTTPS, for real.

From the customer namespace, trusting only the lab CA and checking the host name
(lab/webmail_agent.py): the login page of `https://webmail.<domain>/`, the lab user's login, the
INBOX listing a message that has just arrived from the internet through the mail host's port 25,
and a message larger than the dial-up size limit (two attachments of ATTACHMENT_BYTES each) whose
one attachment is downloaded alone (lesson 11: a dial-up user fetches one part, not the whole
message): its bytes hash to the original's and the response is under the limit. Postfix refuses
such a message on 25 (it is over `messageSizeLimitMb` too), so it is placed straight into the
user's Maildir/new as a local delivery would (owned by the user). Last, a message composed and
sent through Roundcube, which submits on 587 with the user's own login (the day's count is reset
first: the lab's limit is 3), reaches the outside sink. Roundcube reaches the mail host by the name
in its config (at its public address, through the gateway's hairpin NAT), verifying the mail
host's certificate (lab CA, trusted in the webmail host's system store), so a wrong
`isp:webmail.imapHost` fails the login.

The evidence has each step's status, but never the password, a cookie or a token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from lab.hosts import account_password, host_run
from lab.pki import LAB_CA
from lab.system import wait_for

if TYPE_CHECKING:
    from lab.probes import Lab

MIB = 1024 * 1024
ATTACHMENT_BYTES = 700 * 1024
WAIT_SECONDS = 30


def _mark(ok: bool, text: str) -> str:
    return text + ("" if ok else "  <- unexpected")


def big_message(lab: Lab, subject: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A message with two random attachments of ATTACHMENT_BYTES each, as text (base64 parts)."""
    attachments = [(f"part-{n}-{secrets.token_hex(3)}.bin", secrets.token_bytes(ATTACHMENT_BYTES)) for n in (1, 2)]
    message = EmailMessage()
    message["From"] = f"sender@{lab.outside}"
    message["To"] = f"{lab.account}@{lab.domain}"
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@{lab.outside}>"
    message.set_content("Two attachments: a dial-up user opens one at a time.\n")
    for filename, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return message.as_string(), attachments


def place_in_maildir(lab: Lab, text: str) -> str:
    """As a local delivery does: written under Maildir/tmp, owned by the user, renamed into Maildir/new."""
    account = lab.account
    name = f"{int(time.time())}.M{secrets.token_hex(4)}P0.{lab.mail.fqdn}"
    script = (f"set -eu\nmaildir=$(getent passwd {account} | cut -d: -f6)/Maildir\n"
              # Maildir itself named too: `install -d` would make a missing parent root's, which Dovecot,
              # running as the user, could then not write to (a fresh lab has no Maildir before its first mail).
              f"install -d -o {account} -g {account} -m 0700 \"$maildir\" \"$maildir/tmp\" \"$maildir/new\" "
              f"\"$maildir/cur\"\n"
              f"cat > \"$maildir/tmp/{name}\"\nchown {account}:{account} \"$maildir/tmp/{name}\"\n"
              f"chmod 0600 \"$maildir/tmp/{name}\"\nmv \"$maildir/tmp/{name}\" \"$maildir/new/{name}\"\n")
    host_run(lab.mail, script, input_text=text)
    return name


def remove_from_maildir(lab: Lab, name: str) -> None:
    """The placed message, wherever Dovecot has moved it (new/NAME, or cur/NAME:2,FLAGS once seen)."""
    host_run(lab.mail, f"maildir=$(getent passwd {lab.account} | cut -d: -f6)/Maildir && "
                       f"rm -f \"$maildir/new/{name}\" \"$maildir/cur/{name}\" \"$maildir/cur/{name}:\"*")


def probe_webmail_login(lab: Lab) -> tuple[bool, list[str]]:
    from lab.probes import _code, _reset_daily_count, _sink_messages, deliver_from_outside

    token = secrets.token_hex(4)
    limit = lab.cfg.mail.dialup_message_size_limit_mb * MIB
    webmail = lab.cfg.webmail_fqdn
    inbox_subject, big_subject = f"webmail inbox {token}", f"webmail big {token}"
    recipient = f"webmail-{token}@{lab.outside}"
    _reset_daily_count(lab)  # the lab's daily limit is small: the send step must not meet it
    text, attachments = big_message(lab, big_subject)
    placed = place_in_maildir(lab, text)
    arrival, _ = deliver_from_outside(lab, inbox_subject, size=600, timeout=WAIT_SECONDS)
    wanted_name, wanted = attachments[1]
    try:
        seen = lab.agent("customer", "webmail_session", name=webmail, nameserver=lab.dns_public,
                         cafile=str(LAB_CA), user=lab.account,
                         password_file=str(account_password(lab.account)), inbox_subject=inbox_subject,
                         big_subject=big_subject, attachment=wanted_name, send_to=recipient,
                         send_subject=f"sent through webmail {token}")
    finally:  # 1.9 MB a run: the big message does not stay in the lab user's mailbox
        remove_from_maildir(lab, placed)
    evidence = [f"internet {lab.client} -> {lab.mail_public}:25 to {lab.account}@{lab.domain} "
                f"{inbox_subject!r}: {_code(arrival, 'end of data')}",
                f"placed {big_subject!r} ({len(text)} bytes > dial-up limit {limit}; two attachments of "
                f"{ATTACHMENT_BYTES} bytes) in {lab.account}'s Maildir/new/{placed[:24]}… as a local delivery would"]
    if "error" in seen and "steps" not in seen:
        return False, [*evidence, f"the session could not run: {seen['error']}  <- unexpected"]
    page, login = seen.get("login_page", {}), seen.get("login", {})
    checks = [
        (page.get("status") == 200 and page.get("form_token"),
         f"customer -> https://{webmail}/ ({seen.get('address')}, asked of ns1 {lab.dns_public}; certificate "
         f"verified for {webmail} against the lab CA only): {page.get('status')} {page.get('title')!r}, "
         f"login form {'with' if page.get('form_token') else 'WITHOUT'} its _token"),
        (login.get("logged_in") is True,
         f"login as {lab.account}: {login.get('status')} at {login.get('landed')} {login.get('title')!r}"
         + (f"; Roundcube said {'; '.join(login['messages'])}" if login.get("messages") else "")),
    ]
    inbox = seen.get("inbox", {})
    rows = {row["subject"]: row for row in inbox.get("rows", [])}
    arrived = rows.get(inbox_subject)
    checks.append((arrived is not None and lab.outside in arrived.get("from", ""),
                   f"INBOX list (AJAX, {inbox.get('listed', 0)} rows of {inbox.get('count')}): "
                   + (f"{inbox_subject!r} from {arrived['from']}, {arrived['size']}" if arrived
                      else f"no {inbox_subject!r}")))
    big = seen.get("big", {})
    download = big.get("download", {})
    same = download.get("sha256") == hashlib.sha256(wanted).hexdigest() and download.get("bytes") == len(wanted)
    parts = ", ".join(f"{label} (part {part})" for part, label in big.get("attachments", [])) or "none"
    checks += [
        (big_subject in rows and len(big.get("attachments", [])) == 2,
         f"{big_subject!r} listed ({rows.get(big_subject, {}).get('size', 'not listed')}); opened: "
         f"{big.get('status')}, attachments {parts}"),
        (download.get("status") == 200 and same,
         f"downloaded {wanted_name} alone (part {download.get('part')}): {download.get('status')}, "
         f"{download.get('bytes')} bytes, sha256 {str(download.get('sha256'))[:16]}… "
         + ("= the original's" if same else f"!= the original's {hashlib.sha256(wanted).hexdigest()[:16]}…")),
        (download.get("bytes") is not None and download["bytes"] < limit < len(text),
         f"the response ({download.get('bytes')} bytes) is under the dial-up limit ({limit}); the message "
         f"({len(text)} bytes) is not"),
    ]
    send = seen.get("send", {})
    wait_for(lambda: bool(_sink_messages(token)), timeout=WAIT_SECONDS if send.get("sent") else 0.1, interval=0.3)
    records = _sink_messages(token)
    said = "; ".join(send.get("messages", [])) or ("sent" if send.get("sent") else "(nothing)")
    checks.append((send.get("sent") is True,
                   f"compose and send to {recipient} through Roundcube (submission on 587 with the user's login): "
                   f"{send.get('status')} {said}"))
    record = records[-1] if records else None
    sender = f"{lab.account}@{lab.domain}"
    checks.append((record is not None and record["peer"] == lab.mail_public and sender in record["mail_from"],
                   f"the outside sink got it from {record['peer']} (HELO {record['helo']}), {record['mail_from']}, "
                   f"{record['bytes']} bytes" if record else
                   f"the outside sink saw nothing for {recipient}" + (f" within {WAIT_SECONDS} s" if send.get("sent")
                                                                      else " (nothing was sent)")))
    if "error" in seen:
        checks.append((False, f"the session stopped: {seen['error']}"))
    steps = ", ".join(f"{s['step']} {s['status']}" for s in seen.get("steps", []))
    return all(ok for ok, _ in checks), evidence + [_mark(bool(ok), text) for ok, text in checks] + [
        f"HTTP steps: {steps}"]
