"""lab/browser.py against a real Chromium and a small HTTPS site on loopback.

The site is Python's http.server behind ssl, in a thread: a login form that, given the right
credentials, sets a cookie and redirects to an inbox whose list its own script fills in a moment later
(as Roundcube's does). Its certificate comes from a throwaway CA made per test module (lab/pki.py's
own functions). The browser resolves the site's name only through the session's host map, as in the lab.
One browser launch per test.
"""

from __future__ import annotations

import datetime
import secrets
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from lab.browser import BrowserSession, chromium_path, live_processes_in_group, png_size
from lab.browser_probe import judge_served_page
from lab.pki import issue_leaf, make_ca

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Debian's chromium is not installed (/usr/lib/chromium/chromium)")

SITE = "webmail.test"
CA_NAME = "browser test CA"
USER = "labuser"
VIEWPORT = (800, 600)
LOGIN_PAGE = (b"<!doctype html><title>Login</title><form method=post action=/login>"
              b"<input id=user name=user><input id=pass name=pass type=password>"
              b"<button id=go type=submit>Log in</button></form>")
INBOX_PAGE = (b"<!doctype html><title>Inbox</title><table id=messagelist><tbody></tbody></table><script>"
              b"setTimeout(() => { for (const s of ['Hello from outside', 'Second message']) {"
              b" const row = document.querySelector('#messagelist tbody').insertRow();"
              b" row.insertCell().textContent = s;"
              b" } }, 300);</script>")


@dataclass
class Site:
    url: str  # by the name its certificate is for
    port: int
    ca: Path
    password: str
    seen: list[str] = field(default_factory=list)  # "GET /", "POST /login ok", ... as the server met them


def _handler(site: Site, cookie: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "text/html", "Content-Length": str(len(body)),
                                **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            site.seen.append(f"GET {self.path}")
            if self.path == "/inbox":
                if f"session={cookie}" in self.headers.get("Cookie", ""):
                    return self._answer(200, INBOX_PAGE)
                return self._answer(302, headers={"Location": "/"})
            return self._answer(200, LOGIN_PAGE) if self.path == "/" else self._answer(404)

        def do_POST(self) -> None:  # noqa: N802
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            good = form.get("user") == [USER] and form.get("pass") == [site.password]
            site.seen.append(f"POST {self.path} {'ok' if good else 'refused'}")
            if not good:
                return self._answer(403, b"<title>Refused</title>")
            return self._answer(302, headers={"Location": "/inbox", "Set-Cookie": f"session={cookie}; Secure"})

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA, a leaf for the site's name, and one for another name."""
    directory = tmp_path_factory.mktemp("browser-pki")
    now = datetime.datetime.now(datetime.UTC)
    ca, ca_key = make_ca(name=CA_NAME, now=now)
    files = {"ca": directory / "ca.pem"}
    files["ca"].write_bytes(ca)
    for label, name in (("site", SITE), ("other", "other.test")):
        cert, key = issue_leaf(name, ca_cert=ca, ca_key=ca_key, now=now)
        (directory / f"{label}.pem").write_bytes(cert)
        (directory / f"{label}.key").write_bytes(key)
        files[label] = directory / f"{label}.pem"
    return files


def _serve(pki: dict[str, Path], leaf: str) -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki[leaf], pki[leaf].with_suffix(".key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    site = Site(url=f"https://{SITE}:{port}/", port=port, ca=pki["ca"], password=secrets.token_urlsafe(18))
    server.RequestHandlerClass = _handler(site, secrets.token_hex(8))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()  # the socket listens already: the browser's first connect is served
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(pki) -> Iterator[Site]:
    yield from _serve(pki, "site")


@pytest.fixture
def site_with_another_name(pki) -> Iterator[Site]:
    yield from _serve(pki, "other")


def _browser(site: Site, ca: Path | None) -> BrowserSession:
    return BrowserSession(ca, host_map={SITE: "127.0.0.1"}, viewport=VIEWPORT, timeout=60)


def test_trusting_the_ca_the_page_loads_without_a_certificate_error_and_the_login_reaches_the_inbox(site, tmp_path):
    with _browser(site, site.ca) as browser:
        assert browser.trusted == ["lab-ca C,,"]  # the profile's NSS database holds our CA and nothing else
        page = browser.navigate(site.url)
        assert (page.error, page.certificate_errors, page.status) == ("", [], 200)
        assert page.security_state == "secure"
        assert page.tls["subjectName"] == SITE and page.tls["sanList"] == [SITE] and page.tls["issuer"] == CA_NAME
        assert judge_served_page(page, SITE, CA_NAME)[0]
        assert browser.evaluate("document.title") == "Login"
        assert browser.wait_for("document.querySelector('#go')", 5) is True  # an element counts as there

        inbox = browser.submit({"#user": USER, "#pass": site.password}, "#go")
        assert inbox.url == f"https://{SITE}:{site.port}/inbox" and inbox.status == 200
        assert inbox.redirects == [f"302 https://{SITE}:{site.port}/login -> https://{SITE}:{site.port}/inbox"]
        assert inbox.certificate_errors == [] and inbox.failed_loads == []
        rows = browser.wait_for("document.querySelectorAll('#messagelist tbody tr').length >= 2 && "
                                "[...document.querySelectorAll('#messagelist td')].map(c => c.textContent)", 10)
        assert rows == ["Hello from outside", "Second message"]
        shot = tmp_path / "inbox.png"
        assert browser.screenshot(shot) == VIEWPORT
        assert png_size(shot.read_bytes()) == VIEWPORT and shot.stat().st_size > 1000
    pages = [seen for seen in site.seen if seen != "GET /favicon.ico"]  # the browser asks for it by itself
    assert pages == ["GET /", "POST /login ok", "GET /inbox"]  # the password typed was the right one


def test_without_the_ca_the_same_page_fails_as_untrusted_and_the_session_leaves_nothing_behind(site):
    browser = _browser(site, None)
    with browser:
        assert browser.trusted == []
        scratch, group = browser._scratch, browser._process.pid
        page = browser.navigate(site.url)
    assert page.error == "net::ERR_CERT_AUTHORITY_INVALID"
    assert page.certificate_errors == ["net::ERR_CERT_AUTHORITY_INVALID"] and page.status is None
    ok, evidence = judge_served_page(page, SITE, CA_NAME)
    assert not ok and "net::ERR_CERT_AUTHORITY_INVALID" in " ".join(evidence)
    assert site.seen == []  # no request ever reached the server: the handshake was refused
    assert not scratch.exists()  # HOME, profile and NSS database removed
    assert live_processes_in_group(group) == []  # the browser's whole process group is gone (zombies aside)


def test_a_certificate_for_another_name_from_the_trusted_ca_is_refused(site_with_another_name):
    with _browser(site_with_another_name, site_with_another_name.ca) as browser:
        page = browser.navigate(site_with_another_name.url)
    assert page.error == "net::ERR_CERT_COMMON_NAME_INVALID"
    assert page.certificate_errors == ["net::ERR_CERT_COMMON_NAME_INVALID"]
    assert not judge_served_page(page, SITE, CA_NAME)[0]
    assert site_with_another_name.seen == []


def test_png_size_reads_the_header_and_refuses_what_is_no_png():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")
    assert png_size(header) == (640, 480)
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + header[6:])
