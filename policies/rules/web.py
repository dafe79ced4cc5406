"""Webmail lesson 10: the webmail certificate matches its host name, and webmail is HTTPS only.

Webmail sites are the sites a machine serves, in any dialect (`hostview.webview`: nginx
server blocks, Apache virtual hosts, Caddy site blocks, lighttpd `$HTTP["host"]`
conditions, includes resolved across the machine's files), that answer for a name whose
first label is in `webmailLabels` (default `webmail`), or that serve a webmail application
(a docroot, alias or upstream naming Roundcube, RainLoop, SnappyMail, SquirrelMail, SOGo,
Horde). For each:

- A certificate the stack delivers to that machine at the site's certificate path (a staged
  copy counts at its real path) is read with `cryptography`: it must have a SAN (a CN alone
  is ignored by browsers), a SAN DNS name must cover every exact name of the site per RFC
  6125 (wildcards: one whole left-most label), and it must be in date (`minimumDaysValid`).
- Otherwise, an ACME request on that machine for this certificate (certbot `--cert-name`,
  or its first `-d`, equal to the certificate's directory name; acme.sh and lego by first
  name) must ask for names covering every served name; a site reading
  /etc/letsencrypt/live/<name>/ that no request on a machine with ACME requests creates is
  reported too. Caddy's automatic HTTPS (and `tls email`, `tls internal`) obtains a
  certificate for exactly the site's names: compliant by construction.
- Plain HTTP for the webmail name must only redirect to https:// (nginx `return`/`rewrite`,
  Apache `Redirect`/`RedirectMatch`/mod_rewrite, Caddy `redir` or its automatic redirect,
  lighttpd `url.redirect`). A webmail site with no TLS listener is served over plain HTTP.

Not judged (a note, never a violation): a certificate the stack neither delivers nor
requests (managed elsewhere), a file whose text is unknown, any site the reader did not
fully understand (an include the stack does not deliver, lighttpd's `include_shell`, a
certificate path chosen at run time), and a site that certbot's apache/nginx installer
rewrites on the host at run time (`certbot --apache -d NAME`, unless `--no-redirect`). A
site delivered where its daemon's main config does not reach it (sites-available with no
a2ensite or link seen) is judged as if served, and the message says so.

Level: mandatory. Every customer meets a mismatched or expired webmail certificate at the
next login, and the warning either sends them to support or teaches them to click through
certificate warnings, which is what a phishing site needs; webmail over plain HTTP sends
passwords in clear. None of these has a legitimate reason to be deployed, and each is
decided before deployment from what the stack delivers, identically at preview and up.
"""

from __future__ import annotations

import datetime
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from hostview import hosts as hostmap
from hostview import stackview, webview
from pulumi_policy import Severity
from readers import tlscert, websites

from rules.kit import MANDATORY, Finding, NotApplicable, Note, Outcome, declare, setting

LIVE_DIR = "/etc/letsencrypt/live/"
_REDIRECT_HINT = {
    "nginx": "`return 301 https://{name}$request_uri;`",
    "apache": "`Redirect permanent / https://{name}/`",
    "caddy": "`redir https://{name}{{uri}} permanent` (or drop the http:// address: Caddy then redirects itself)",
    "lighttpd": '`url.redirect = ("" => "https://{name}${{url.path}}${{qsa}}")` in `$HTTP["scheme"] == "http"`',
}


def _webmail_names(site: websites.Site, labels: set[str]) -> list[str]:
    names = list(site.exact_names)
    if site.webmail_app:
        return names
    return [name for name in names if name.split(".", 1)[0] in labels]


def _requests(machine: hostmap.Host) -> list[tuple[tlscert.AcmeRequest, str, str]]:
    """(request, where, urn) of every ACME request in the machine's files and commands."""
    found = []
    for f in machine.files:
        if f.text is None or f.kind == "pem":
            continue
        for request in tlscert.acme_requests(f.text, ini=f.kind == "certbot-ini"):
            found.append((request, f.label, f.urn))
    for command in machine.commands:
        for text in command.texts:
            for request in tlscert.acme_requests(text):
                found.append((request, command.label, command.urn))
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
                "Caddy's automatic HTTPS, or a provided certificate whose SAN names it), keep it in date, and "
                "answer plain HTTP on the webmail name only with a redirect to https://.",
    url="https://www.rfc-editor.org/rfc/rfc6125#section-6.4",
    tags=["web", "tls", "lesson-10"],
)
def webmail_certificate_findings(view: stackview.StackView,
                                 config: WebmailCertificateMatchesConfig) -> Iterator[Outcome]:
    labels = {str(label).lower() for label in config.webmail_labels}
    now = datetime.datetime.now(datetime.UTC)
    judged = False
    for machine in hostmap.of(view):
        web = webview.of(view, machine)
        for note in web.notes:
            yield Note(note)
        requests: list | None = None
        for served in web.sites:
            names = _webmail_names(served.site, labels)
            if not names:
                if served.site.webmail_app and served.site.unclear_names:
                    yield Note(f"{served.label} ({served.site.what} at line {served.site.line}) serves a webmail "
                               f"application for names the pack cannot list ({', '.join(served.site.unclear_names)})")
                continue
            judged = True
            if requests is None:
                requests = _requests(machine)
            yield from _site_outcomes(served, web, names, requests, config.minimum_days_valid, now)
    if not judged:
        yield NotApplicable("the stack delivers no web site (nginx, Apache, Caddy, lighttpd) for a webmail name or "
                            "application")


def _site_outcomes(served: webview.HostSite, web: webview.WebView, names: list[str], requests: list,
                   minimum_days: int, now: datetime.datetime) -> Iterator[Outcome]:
    site = served.site
    doubt = f"; {served.doubt}" if served.doubt else ""
    where = f"{served.label} ({site.what} at line {site.line}, {' '.join(names)}{doubt})"
    urn = served.file.urn if served.file is not None else None
    spelled = (served.file.host if served.file is not None else "") or "<unknown host>"

    tls_unknown = [listener for listener in site.listeners if listener.tls is None]
    unsure = list(site.unclear) or (["whether it uses TLS is not stated"] if tls_unknown else [])
    # certbot --apache/--nginx rewrites this very config on the host (TLS, certificate, redirect).
    unsure += [f"{at} (line {request.line}) runs certbot's {request.installer} installer, which rewrites this "
               "site on the host" for request, at, _ in requests if request.installer == site.dialect
               and not request.no_redirect and any(tlscert.covered_by(request.names, name) for name in names)]

    def outcome(message: str, at: str | None) -> Outcome:
        if unsure:  # the reader did not fully understand this site: never a block
            return Note(f"{message} — not judged: {'; '.join(unsure)}")
        return Finding(message, at)

    plain = site.plain
    if plain and site.redirects_to_https is not True:
        ports = ", ".join(str(port) for port in sorted({listener.port for listener in plain}))
        if site.redirects_to_https is None:
            yield Note(f"{where} listens for plain HTTP (port {ports}); whether it only redirects to https:// is not "
                       f"judged: {'; '.join(unsure) or 'a redirect the pack does not evaluate'}")
        else:
            hint = _REDIRECT_HINT.get(site.dialect, _REDIRECT_HINT["nginx"]).format(name=names[0])
            yield outcome(f"{where} serves webmail over plain HTTP (port {ports}) without redirecting to https://; "
                          f"passwords would cross the network in clear: answer plain HTTP with {hint}", urn)
    if tls_unknown and not site.certificates:
        yield Note(f"{where}: whether port(s) {', '.join(str(x.port) for x in tls_unknown)} use TLS is not judged: "
                   f"{'; '.join(unsure)}")
    if not (site.tls or tls_unknown) or site.managed:
        return  # no TLS, or a certificate the server obtains for exactly these names (Caddy)
    if not site.certificates and site.unclear:
        yield Note(f"{where}: its certificate is not judged: {'; '.join(site.unclear)}")
    machine_files = served.file  # for the host spelling in messages
    for certificate in site.certificates:
        pem = web.file(certificate)
        if pem is not None:
            label = f"the certificate {certificate} on {pem.host or spelled}"
            if pem.text is None:
                why = pem.problem or "its text is not known"
                yield Note(f"{label} (for {where}): {why}")
                continue
            try:
                leaf = tlscert.read_leaf(pem.text)
            except ValueError as exc:
                yield outcome(f"{label} (for {where}) cannot be read as a PEM certificate ({exc})", pem.urn)
                continue
            for message in _certificate_findings(leaf, names, label, minimum_days, now):
                yield outcome(f"{message} [{where}]", pem.urn)
            continue
        linked = [(request, at, at_urn) for request, at, at_urn in requests if _linked(request, certificate)]
        for request, at, at_urn in linked:
            missing = [name for name in names if not tlscert.covered_by(request.names, name)]
            if missing:
                yield outcome(f"{at} (line {request.line}: {request.tool}) asks the CA for "
                              f"{', '.join(request.names) or 'no name'} for the certificate {certificate}, but the "
                              f"site serves {', '.join(missing)} [{where}]: request -d {' -d '.join(names)}", at_urn)
        if linked:
            continue
        if requests and certificate.startswith(LIVE_DIR):
            asked = "; ".join(f"{', '.join(r.names)} ({at})" for r, at, _ in requests)
            host = machine_files.host if machine_files is not None else spelled
            yield outcome(f"{where} reads {certificate}, which no ACME request on {host} creates (requests: "
                          f"{asked}): request exactly {' '.join(names)}", urn)
        else:
            yield Note(f"{where}: the certificate {certificate} is neither delivered nor requested by the stack "
                       "(managed elsewhere)")

