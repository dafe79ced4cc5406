"""Webmail lesson 10: the webmail certificate matches its host name, and webmail is HTTPS only.

Webmail sites are the nginx `server` blocks a stack delivers whose `server_name` has a first
label in `webmailLabels` (default `webmail`), or that serve a webmail application (a root,
alias or upstream naming Roundcube, RainLoop, SnappyMail, SquirrelMail, SOGo, Horde). For
each, on the host that receives it:

- A certificate the stack delivers at the site's `ssl_certificate` path (a staged copy
  counts at its real path) is read with `cryptography`: it must have a SAN (a CN alone is
  ignored by browsers), a SAN DNS name must cover every exact `server_name` per RFC 6125
  (wildcards: one whole left-most label), and it must be in date (`minimumDaysValid`).
- Otherwise, an ACME request on that host for this certificate (certbot `--cert-name`, or
  its first `-d`, equal to the certificate's directory name or its /etc/letsencrypt/live/
  directory; acme.sh and lego by first name) must ask for names covering every
  `server_name`; a site reading /etc/letsencrypt/live/<name>/ that no request on a host
  with ACME requests creates is reported too.
- Plain HTTP for the webmail name must only redirect to https:// (a `return`/`rewrite` at
  the server level, under an `if ($scheme = http)`, or in `location /` and every other
  location but the ACME challenge directory). A webmail site with no TLS listener at all is
  served over plain HTTP.

A certificate the stack neither delivers nor requests is managed elsewhere: not judged.

Level: mandatory. Every customer meets a mismatched or expired webmail certificate at the
next login, and the warning either sends them to support or teaches them to click through
certificate warnings, which is what a phishing site needs; webmail over plain HTTP sends
passwords in clear. None of these has a legitimate reason to be deployed, and each is
decided before deployment from what the stack delivers, identically at preview and up.
"""

from __future__ import annotations

import datetime
import posixpath
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hostview import stackview
from pulumi_policy import Severity
from readers import nginxconf, tlscert

from rules.kit import MANDATORY, Finding, NotApplicable, Outcome, declare, setting

LIVE_DIR = "/etc/letsencrypt/live/"


def _webmail_names(server: nginxconf.Server, labels: set[str]) -> list[str]:
    names = server.exact_names()
    if server.serves_webmail_app():
        return names
    return [name for name in names if name.split(".", 1)[0] in labels]


def _requests_by_host(view: stackview.StackView) -> dict[str, list[tuple[tlscert.AcmeRequest, str, str]]]:
    """host -> (request, where, urn)."""
    found: dict[str, list[tuple[tlscert.AcmeRequest, str, str]]] = defaultdict(list)
    for f in view.files:
        if f.text is None or f.kind == "pem" or not f.host:
            continue
        for request in tlscert.acme_requests(f.text, ini=f.kind == "certbot-ini"):
            found[f.host].append((request, f.label, f.urn))
    for command in view.commands:
        if command.host:
            for text in command.texts:
                for request in tlscert.acme_requests(text):
                    found[command.host].append((request, command.label, command.urn))
    return found


def _certificate_findings(leaf: tlscert.Leaf, names: list[str], where: str, minimum_days: int,
                          now: datetime.datetime) -> Iterator[str]:
    if not leaf.has_san:
        cn = ", ".join(leaf.common_names) or "none"
        yield (f"{where} has no subjectAltName (CN {cn}); browsers ignore the CN, so it matches no name: issue it "
               f"with a SAN for {', '.join(names)}")
        return
    missing = [name for name in names if not tlscert.covered_by(leaf.dns_names, name)]
    if missing:
        yield (f"{where} names {', '.join(leaf.dns_names) or 'no DNS name'} but the site serves "
               f"{', '.join(missing)}: browsers will warn every user; use a certificate whose SAN covers "
               f"{', '.join(missing)}")
    if leaf.not_after <= now + datetime.timedelta(days=minimum_days):
        state = "expired" if leaf.not_after <= now else f"expires within {minimum_days} days"
        yield f"{where} {state} (not after {leaf.not_after:%Y-%m-%d %H:%M} UTC): renew it before deploying"
    elif leaf.not_before > now + datetime.timedelta(hours=1):
        yield f"{where} is not valid before {leaf.not_before:%Y-%m-%d %H:%M} UTC: browsers reject it until then"


def _linked(request: tlscert.AcmeRequest, certificate: str) -> bool:
    directory = posixpath.basename(posixpath.dirname(certificate))
    return request.cert_name is not None and request.cert_name.lower().rstrip(".") == directory.lower()


@dataclass(frozen=True)
class WebmailCertificateMatchesConfig:
    webmail_labels: tuple[str, ...] = setting(('webmail',), 'Host labels that name a webmail site (webmail.<domain>).')
    minimum_days_valid: int = setting(0, 'Fewest days a delivered webmail certificate must still be valid.', minimum=0)


@declare(
    "webmail-certificate-matches", lesson=10, level=MANDATORY, severity=Severity.HIGH,
    config=WebmailCertificateMatchesConfig,
    description="The webmail certificate covers the webmail host name, is in date, and webmail is HTTPS only.",
    remediation="Issue the webmail certificate for exactly its host name (certbot certonly -d webmail.<domain>, "
                     "or a provided certificate whose SAN names it), keep it in date, and answer plain HTTP on the "
                     "webmail name only with a redirect to https://.",
    url="https://www.rfc-editor.org/rfc/rfc6125#section-6.4",
    tags=["web", "tls", "lesson-10"],
)
def webmail_certificate_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    labels = {str(label).lower() for label in config.webmail_labels}
    minimum_days = config.minimum_days_valid
    now = datetime.datetime.now(datetime.UTC)
    pems = {(f.host, f.deployed_path): f for f in view.files if f.kind == "pem"}
    requests = _requests_by_host(view)
    judged = False
    for f in view.files_of_kind("nginx"):
        if f.text is None:
            continue
        parsed = view.parsed(f)
        if parsed is None:
            continue
        for server in nginxconf.servers(parsed):
            names = _webmail_names(server, labels)
            if not names:
                continue
            judged = True
            site = f"{f.label} (server at line {server.line}, {' '.join(names)})"
            if server.plain and not server.redirects_to_https():
                ports = ", ".join(str(port) for port in sorted({listener.port for listener in server.plain}))
                yield Finding(f"{site} serves webmail over plain HTTP (port {ports}) without redirecting to https://; "
                              f"passwords would cross the network in clear: answer plain HTTP with "
                              f"`return 301 https://{names[0]}$request_uri;`", f.urn)
            if not server.tls or server.certificate is None or "$" in server.certificate:
                continue
            certificate = nginxconf.absolute(server.certificate)
            pem = pems.get((f.host, certificate))
            if pem is not None and pem.text is not None:
                where = f"the certificate {certificate} on {f.host or '<unknown host>'}"
                try:
                    leaf = tlscert.read_leaf(pem.text)
                except ValueError as exc:
                    yield Finding(f"{where} (for {site}) cannot be read as a PEM certificate ({exc})", pem.urn)
                    continue
                for message in _certificate_findings(leaf, names, where, minimum_days, now):
                    yield Finding(f"{message} [{site}]", pem.urn)
                continue
            on_host = requests.get(f.host, []) if f.host else []
            linked = [(request, where, urn) for request, where, urn in on_host if _linked(request, certificate)]
            for request, where, urn in linked:
                missing = [name for name in names if not tlscert.covered_by(request.names, name)]
                if missing:
                    yield Finding(f"{where} (line {request.line}: {request.tool}) asks the CA for "
                                  f"{', '.join(request.names) or 'no name'} for the certificate {certificate}, but the "
                                  f"site serves {', '.join(missing)} [{site}]: request -d {' -d '.join(names)}", urn)
            if not linked and on_host and certificate.startswith(LIVE_DIR):
                asked = "; ".join(f"{', '.join(r.names)} ({where})" for r, where, _ in on_host)
                yield Finding(f"{site} reads {certificate}, which no ACME request on {f.host} creates (requests: "
                              f"{asked}): request exactly {' '.join(names)}", f.urn)
    if not judged:
        yield NotApplicable("the stack delivers no nginx site for a webmail name or application")
