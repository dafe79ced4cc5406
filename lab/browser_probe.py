"""Lesson 10 as a user meets it: `webmail-browser` logs in to the webmail in a real browser.

Headless Chromium (lab/browser.py) runs inside the `customer` namespace, trusting only the lab CA
(`build/lab/secrets/lab-ca.pem`, the one anchor in its fresh NSS database), and:

1. finds the webmail's address the way a customer's browser would, by asking the ISP's name server
   (which offers recursion to customers, lesson 3) from the customer line; that answer, not the
   topology, is what the browser is given (`--host-resolver-rules`, see lab/browser.py's docstring);
2. first without the CA: the same page must fail with `net::ERR_CERT_AUTHORITY_INVALID`, so the page's
   acceptance below is owed to the lab CA and not to anything built into the browser;
3. with the CA: loads `https://<webmail name>/` with no certificate error on the way, a secure security
   state, and a certificate whose SAN is exactly the webmail name, issued by the lab CA;
4. logs in as the lab account (the password read from its 0600 file and typed into the page over the
   debugging pipe: never in an argv, never printed) and waits for Roundcube's message list to show a
   message the probe had sent from the internet a moment before;
5. saves what the user sees as `build/lab/webmail-inbox.png`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lab.browser import BrowserError, BrowserSession, Navigation, chromium_path
from lab.pki import LAB_CA, LAB_CA_NAME
from lab.system import BUILD_DIR

if TYPE_CHECKING:
    from lab.probes import Lab

INBOX_SCREENSHOT = BUILD_DIR / "webmail-inbox.png"
FAILURE_SCREENSHOT = BUILD_DIR / "webmail-browser-failed.png"  # what the user saw instead, when the probe fails
# Roundcube's login form (program/include/rcmail_output_html.php) and its message list (skins, app.js).
LOGIN_USER, LOGIN_PASSWORD, LOGIN_BUTTON = "#rcmloginuser", "#rcmloginpwd", "#rcmloginsubmit"
MESSAGE_ROWS = "#messagelist tbody tr"
DELIVERY_WAIT_SECONDS = 20
INBOX_WAIT_SECONDS = 30


def _mark(ok: bool, text: str) -> str:
    return text + ("" if ok else "  <- unexpected")


def judge_served_page(page: Navigation, name: str, issuer: str) -> tuple[bool, list[str]]:
    """A page a user can trust: loaded (200), no certificate error anywhere on the way, a secure state, and
    served with a certificate for exactly `name` issued by `issuer`."""
    if page.error:
        return False, [_mark(False, f"GET {page.url}: {page.error} (certificate errors: "
                                    f"{', '.join(page.certificate_errors) or 'none'})")]
    tls = page.tls
    checks = [
        (page.status == 200 and not page.certificate_errors,
         f"GET {page.url} -> {page.status}; certificate errors on the way: "
         f"{', '.join(page.certificate_errors) or 'none'}"),
        (page.security_state == "secure", f"the browser's security state: {page.security_state or '(none)'}"),
        (tls.get("sanList") == [name] and tls.get("issuer") == issuer,
         f"served with {page.tls_line()}"),
    ]
    if page.failed_loads:
        checks.append((not any("ERR_CERT" in f for f in page.failed_loads),
                       f"failed loads: {'; '.join(page.failed_loads)}"))
    return all(ok for ok, _ in checks), [_mark(ok, text) for ok, text in checks]


def _webmail_address(lab: Lab, name: str) -> tuple[str, list[str]]:
    """The A record of `name` as the customer's resolver (ns1) answers it, checked against the topology."""
    webmail = lab._one("webmail")
    public = str(next(h for h in lab.cfg.hosts if h.name == webmail.name).public_address)
    answer = lab.agent("customer", "dns", server=lab.dns_public, queries=[[name, "A"]])
    entry = (answer.get("results") or [{}])[0]
    addresses = [line.split()[-1] for line in entry.get("answer", []) if " IN A " in line]
    ok = entry.get("rcode") == "NOERROR" and addresses == [public]
    said = ", ".join(addresses) or entry.get("error") or entry.get("rcode")
    return (addresses[0] if ok else ""), [_mark(ok, f"customer asked ns1 {lab.dns_public}: {name} A -> {said} "
                                                    f"(webmail's public address is {public})")]


def _send_from_outside(lab: Lab, subject: str) -> tuple[bool, str]:
    """A message from the internet to the lab account, until it lies in the account's Maildir."""
    from lab.probes import _code, deliver_from_outside

    session, files = deliver_from_outside(lab, subject, size=300, timeout=DELIVERY_WAIT_SECONDS)
    arrived = bool(files)
    return arrived, _mark(arrived, f"internet -> {lab.mail_public}:25, '{subject}' to {lab.account}@{lab.domain}: "
                                   f"{_code(session, 'end of data')}, in the Maildir: {'yes' if arrived else 'no'}")


def _inbox_state(subject: str) -> str:
    """JavaScript: the message list's rows once the probe's message is among them (else false)."""
    return (f"(() => {{ const rows = [...document.querySelectorAll({json.dumps(MESSAGE_ROWS)})]; "
            f"return rows.some(r => r.textContent.includes({json.dumps(subject)})) && "
            "{rows: rows.length, title: document.title, "
            "unread: window.rcmail ? rcmail.env.unread_counts && rcmail.env.unread_counts[rcmail.env.mailbox] : null}; "
            "})()")


def _roundcube_says(browser: BrowserSession) -> str:
    """The message Roundcube shows the user (its #messagestack, filled by script a moment after the page)."""
    try:
        said = browser.wait_for("(document.querySelector('#messagestack') || {}).innerText", timeout=3)
    except BrowserError:
        return "it shows no message"
    return f"it says '{' '.join(str(said).split())}'"


def _log_in(lab: Lab, browser: BrowserSession, name: str, subject: str, evidence: list[str]) -> bool:
    """Load the webmail, judge how it was served, log in, wait for the probe's message in the list; every
    step's evidence appended as it is taken (a BrowserError on the way leaves what came before)."""
    from lab.hosts import account_password

    page = browser.navigate(f"https://{name}/")
    served, lines = judge_served_page(page, name, LAB_CA_NAME)
    evidence += lines
    if not served:
        return False
    browser.wait_for(f"document.querySelector({json.dumps(LOGIN_BUTTON)})", timeout=10)  # Roundcube's form
    evidence.append(f"title '{browser.evaluate('document.title')}', Roundcube's login form shown")
    password = account_password(lab.account).read_text().strip()
    inbox = browser.submit({LOGIN_USER: lab.account, LOGIN_PASSWORD: password}, LOGIN_BUTTON)
    del password
    redirects = re.sub(r"_token=[^&\s]+", "_token=...", "; ".join(inbox.redirects))  # Roundcube's session CSRF token
    evidence.append(_mark(inbox.status == 200 and not inbox.certificate_errors,
                          f"logged in as {lab.account} (password typed from build/lab/secrets/{lab.account}.password, "
                          f"not shown): {redirects or 'no redirect'}; {inbox.url} -> {inbox.status}, "
                          f"certificate errors: {', '.join(inbox.certificate_errors) or 'none'}"))
    task = browser.evaluate("window.rcmail ? rcmail.env.task : ''")
    if task != "mail":  # Roundcube sent the login form back: say why, at once
        evidence.append(_mark(False, f"Roundcube is at task '{task}', not mail: {_roundcube_says(browser)}"))
        return False
    try:
        listed = browser.wait_for(_inbox_state(subject), timeout=INBOX_WAIT_SECONDS)
    except BrowserError:
        evidence.append(_mark(False, f"no message list with '{subject}' within {INBOX_WAIT_SECONDS} s; page "
                                     f"'{browser.evaluate('document.title')}': {_roundcube_says(browser)}"))
        return False
    evidence.append(f"inbox: title '{listed['title']}', {listed['rows']} messages listed, '{subject}' among them "
                    f"(unread {listed['unread']})")
    return True


def probe_webmail_browser(lab: Lab) -> tuple[bool, list[str]]:
    if chromium_path() is None:
        return False, ["Debian's chromium is not installed (/usr/lib/chromium/chromium)  <- the probe needs it"]
    started = time.monotonic()
    name = lab.cfg.webmail_fqdn
    namespace = lab.topology.host("customer").namespace
    subject = f"Browser probe {secrets.token_hex(4)}"
    for stale in (INBOX_SCREENSHOT, FAILURE_SCREENSHOT):  # a picture always shows this run
        stale.unlink(missing_ok=True)
    delivered, line = _send_from_outside(lab, subject)
    evidence = [line]
    address, lines = _webmail_address(lab, name)
    evidence += lines
    if not (delivered and address):
        return False, evidence
    host_map = {name: address}
    try:
        with BrowserSession(None, namespace=namespace, host_map=host_map) as untrusting:
            control = untrusting.navigate(f"https://{name}/")
        refused = control.error == "net::ERR_CERT_AUTHORITY_INVALID"
        evidence.append(_mark(refused, f"control, Chromium trusting no lab CA: GET {control.url} -> "
                                       f"{control.error or control.status}"))
        with BrowserSession(LAB_CA, namespace=namespace, host_map=host_map) as browser:
            evidence.append(f"{browser.product} headless in {namespace} (ip netns exec), launched in "
                            f"{browser.launch_seconds:.1f} s; its NSS database holds only: "
                            f"{', '.join(browser.trusted)} ({LAB_CA.relative_to(BUILD_DIR.parent.parent)}); "
                            f"{name} mapped to {address}, every other name unresolvable")
            try:
                logged_in = _log_in(lab, browser, name, subject, evidence)
            except BrowserError as error:
                logged_in = False
                evidence.append(_mark(False, f"the browser failed: {error}"))
            picture = INBOX_SCREENSHOT if refused and logged_in else FAILURE_SCREENSHOT
            width, height = browser.screenshot(picture)
    except BrowserError as error:
        return False, [*evidence, _mark(False, f"the browser failed: {error}")]
    size = picture.stat().st_size
    evidence.append(f"screenshot {picture.relative_to(BUILD_DIR.parent.parent)}: PNG {width}x{height}, "
                    f"{size // 1024} KiB, {datetime.now(UTC):%H:%M:%S} UTC; the probe took "
                    f"{time.monotonic() - started:.1f} s")
    return refused and logged_in, evidence


BROWSER_PROBES: list[tuple[str, str, str, Callable[[Lab], tuple[bool, list[str]]]]] = [
    ("webmail-browser", "10", "a real browser on a customer line, trusting only the lab CA, loads the webmail "
     "without a certificate warning, logs in and shows the inbox", probe_webmail_browser),
]
