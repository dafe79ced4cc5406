"""What `webmail-login` does inside the customer namespace: a user's session with Roundcube over HTTPS.

`python -m lab.webmail_agent session` reads its arguments as JSON on stdin and prints one JSON
result, like `lab.agent`. The webmail name is resolved by asking the lab's name server only; the
HTTPS connection goes to that address with the name as SNI and Host, and the certificate is
verified for that name against the lab CA alone (no system store). Cookies live in this process
only. The password is read from its file and sent only in the login form: it is in no result, and
neither is a cookie or a request token.

Roundcube 1.6's request flow (program/actions, program/js/app.js): GET the login page (a
`_token` and a session cookie), POST `?_task=login` with `_task=login&_action=login&_timezone&_url
&_user&_pass&_token`, which redirects to `?_task=mail`; that page's `request_token` goes in the
header `X-Roundcube-Request` of every AJAX call (`_remote=1`), such as the message list.
"""

from __future__ import annotations

import functools
import hashlib
import html
import http.client
import http.cookiejar
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 20
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_FORM_TOKEN = re.compile(r'name="_token" value="([^"]+)"')
_REQUEST_TOKEN = re.compile(r'"request_token":"([^"]+)"')
_MESSAGE_ROW = re.compile(r"this\.add_message_row\((\d+),")
_DISPLAYED = re.compile(r'rcmail\.display_message\("((?:[^"\\]|\\.)*)","(\w+)"')
# Elastic's attachment list: <li ... id="attach2"><a href="/?_task=mail&_action=get&...&_token=...&_part=2" ...>
# <span class="attachment-name">NAME</span>
_ATTACHMENT = re.compile(r'<li [^>]*id="attach([0-9.]+)"[^>]*>\s*<a href="([^"]*_action=get[^"]*)"[^>]*>\s*'
                         r'<span class="attachment-name">([^<]*)</span>')
_COMPOSE_ID = re.compile(r'"compose_id":"([^"]+)"')
_IDENTITY = re.compile(r'<select name="_from"[^>]*>\s*<option value="(\d+)"')
_SENT = re.compile(r"rcmail\.sent_successfully\(")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address`, while SNI, the certificate check and Host all use the URL's name."""

    def __init__(self, *args: Any, address: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = lambda where, *rest: socket.create_connection((address, where[1]), *rest)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str, context: ssl.SSLContext):
        super().__init__(context=context)
        self._address = address
        self._ssl = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_PinnedHTTPSConnection, address=self._address), req, context=self._ssl)


def resolve(name: str, nameserver: str) -> str:
    """The name's first A record, asked of `nameserver` only."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.lifetime = 6
    return str(resolver.resolve(name, "A", search=False)[0])


class Browser:
    """A cookie-keeping HTTPS client for one site name, pinned to one address; it only records what it saw."""

    def __init__(self, name: str, address: str, cafile: str):
        context = ssl.create_default_context(cafile=cafile)  # the lab CA only; hostname checked
        self.base = f"https://{name}/"
        self.opener = urllib.request.build_opener(_PinnedHTTPSHandler(address, context),
                                                  urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.steps: list[dict[str, Any]] = []

    def request(self, step: str, query: dict[str, str], *, form: dict[str, str] | None = None,
                token: str | None = None) -> tuple[int, str, bytes, dict[str, str]]:
        """(status, final URL without its query's tokens, body, headers); an HTTP error is a status too."""
        url = self.base + "?" + urllib.parse.urlencode(query)
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"X-Roundcube-Request": token} if token else {}
        req = urllib.request.Request(url, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as response:
                status, final, body = response.status, response.url, response.read()
                head = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as error:
            status, final, body, head = error.code, url, error.read(), {k.lower(): v for k, v in error.headers.items()}
        shown = re.sub(r"(_token|_id)=[^&]*", r"\1=…", final)
        self.steps.append({"step": step, "status": status, "url": shown, "bytes": len(body)})
        return status, shown, body, head


def _title(text: str) -> str:
    match = _TITLE.search(text)
    return html.unescape(" ".join(match.group(1).split())) if match else ""


def _displayed(text: str) -> list[str]:
    return [f"{kind}: {json.loads(chr(34) + message + chr(34))}" for message, kind in _DISPLAYED.findall(text)]


def _rows(exec_text: str) -> list[dict[str, Any]]:
    """The rows of a message list (`this.add_message_row(uid, {subject, fromto, size, ...}, ...)`)."""
    decoder = json.JSONDecoder()
    rows = []
    for match in _MESSAGE_ROW.finditer(exec_text):
        fields, _ = decoder.raw_decode(exec_text, match.end())
        sender = re.sub(r"<[^>]+>", "", fields.get("fromto", ""))
        rows.append({"uid": int(match.group(1)), "subject": html.unescape(fields.get("subject", "")),
                     "from": html.unescape(sender), "size": fields.get("size", "")})
    return rows


def session(name: str, nameserver: str, cafile: str, user: str, password_file: str, inbox_subject: str,
            big_subject: str, attachment: str, send_to: str, send_subject: str) -> dict[str, Any]:
    """Log in, find two messages in the INBOX, download one attachment of the big one, send one message."""
    result: dict[str, Any] = {"name": name}
    address = result["address"] = resolve(name, nameserver)
    browser = Browser(name, address, cafile)
    result["steps"] = browser.steps
    try:
        status, _, body, _ = browser.request("login page", {})
        page = body.decode(errors="replace")
        token = _FORM_TOKEN.search(page)
        result["login_page"] = {"status": status, "title": _title(page), "form_token": bool(token)}
        if not token:
            return result
        form = {"_token": token.group(1), "_task": "login", "_action": "login", "_timezone": "UTC", "_url": "",
                "_user": user, "_pass": Path(password_file).read_text().strip()}
        status, final, body, _ = browser.request("login", {"_task": "login"}, form=form)
        page = body.decode(errors="replace")
        request_token = _REQUEST_TOKEN.search(page)
        logged_in = "_task=mail" in final and request_token is not None
        result["login"] = {"status": status, "landed": final, "title": _title(page), "logged_in": logged_in,
                           "messages": _displayed(page)}
        if not logged_in:
            return result
        ajax = request_token.group(1)
        status, _, body, _ = browser.request("inbox list", {"_task": "mail", "_action": "list", "_mbox": "INBOX",
                                                            "_page": "1", "_sort": "arrival_DESC", "_remote": "1"},
                                             token=ajax)
        listing = json.loads(body or b"{}")
        rows = _rows(listing.get("exec", ""))
        result["inbox"] = {"status": status, "count": listing.get("env", {}).get("messagecount"),
                           "rows": [r for r in rows if r["subject"] in (inbox_subject, big_subject)],
                           "listed": len(rows)}
        big = next((r for r in rows if r["subject"] == big_subject), None)
        if big is not None:
            result["big"] = _download(browser, big["uid"], attachment)
        result["send"] = _send(browser, send_to, send_subject)
        browser.request("logout", {"_task": "logout", "_token": ajax})
    except (OSError, ValueError, http.client.HTTPException) as error:
        result["error"] = f"{type(error).__name__}: {error}"
    return result


def _download(browser: Browser, uid: int, attachment: str) -> dict[str, Any]:
    """Open the message, then download the one attachment named `attachment`: its bytes are hashed."""
    status, _, body, _ = browser.request("open message", {"_task": "mail", "_action": "show", "_uid": str(uid),
                                                          "_mbox": "INBOX"})
    page = body.decode(errors="replace")
    links = {part: (html.unescape(label), html.unescape(href)) for part, href, label in _ATTACHMENT.findall(page)}
    parts = [(part, label) for part, (label, _) in links.items()]
    found: dict[str, Any] = {"uid": uid, "status": status, "page_bytes": len(body), "attachments": parts}
    part = next((p for p, label in parts if label == attachment), None)
    if part is None:
        return found
    # The page's own link (it carries the request token), plus `_download=1` as its download button adds.
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(links[part][1]).query))
    status, _, data, head = browser.request("download attachment", {**query, "_download": "1"})
    found["download"] = {"part": part, "status": status, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "content_type": head.get("content-type", ""),
                         "disposition": head.get("content-disposition", "")}
    return found


def _send(browser: Browser, to: str, subject: str) -> dict[str, Any]:
    """Compose (Roundcube gives the compose form an id and the identity), then send as the form does."""
    status, _, body, _ = browser.request("compose", {"_task": "mail", "_action": "compose"})
    page = body.decode(errors="replace")
    compose_id, identity, token = _COMPOSE_ID.search(page), _IDENTITY.search(page), _FORM_TOKEN.search(page)
    sent: dict[str, Any] = {"compose_status": status, "compose_form": bool(compose_id and identity and token)}
    if not (compose_id and identity and token):
        return sent
    form = {"_token": token.group(1), "_task": "mail", "_action": "send", "_id": compose_id.group(1),
            "_from": identity.group(1), "_to": to, "_subject": subject, "_is_html": "0", "_framed": "1",
            "_draft": "", "_message": "Sent through Roundcube by the lab's webmail-login probe."}
    status, _, body, _ = browser.request("send", {"_task": "mail", "_unlock": "loading1", "_framed": "1"}, form=form)
    page = body.decode(errors="replace")
    sent.update(status=status, sent=bool(_SENT.search(page)), messages=_displayed(page))
    return sent


# Served by lab/agent.py (`python -m lab.agent webmail_session`), like lab/mailauth_agent.py's.
ACTIONS = {"webmail_session": session}
