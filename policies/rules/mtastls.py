"""MTA-STS enforce needs MX certificates (RFC 8461 §4.2), lesson 6: every MX presents a certificate for its name.

With a policy in mode enforce, a sender MUST validate the certificate the MX presents after
STARTTLS: a SAN dNSName matching the MX host name per RFC 6125 (one whole left-most `*`
label), not expired, chained to a trusted root; when it cannot, it does not deliver (§4.2,
§5). The domains taking part are those of `rules.mtasts`: a valid `_mta-sts` TXT from a
publisher of the stack, and a served policy (`hostview.servedfile`) whose mode is enforce.

`mta-sts-enforce-needs-mx-certificates` (mandatory): for each MX host of such a domain that
is a machine of the stack (its addresses in the stack's DNS, or its spelling) running
Postfix, each instance's port-25 smtpd (the `smtp`/`25` inet service of master.cf, or the
`smtpd` pass service behind postscreen; Debian's packaged master.cf when none is delivered)
must offer STARTTLS (`smtpd_tls_security_level` not `none`, else the obsolete
`smtpd_use_tls`/`smtpd_enforce_tls`; a certificate, since Postfix without one disables TLS
and `smtpd_tls_cert_file = none` is anonymous TLS no sender can verify) and present
certificates that name the MX host and are in date. The certificates are those of
`smtpd_tls_chain_files` when it is set (each key followed by its certificate chain; the
legacy parameters are then ignored), else `smtpd_tls_cert_file`, `smtpd_tls_eccert_file`,
`smtpd_tls_dcert_file` (postconf(5)), master.cf `-o` overrides first; without a delivered
main.cf, Debian's packaged one (`/usr/share/postfix/main.cf.tls`: the snakeoil certificate).
Whether the chain reaches a trusted root is not judged: the pack has no trust store.

Not judged (a note, never a block): a certificate file the stack does not deliver to that
machine (certbot on the host, or provided out of band: the common case), a value unknown at
preview (judged at `up`), an MX outside the stack or without a delivered Postfix, and a
parameter whose `$name` expansion the pack cannot resolve.

Level: mandatory. Under an enforce policy a certificate that does not name the MX, has
expired, or is missing makes every compliant sender (Gmail, Outlook.com and most large
providers) refuse the domain's mail, which is deferred and then bounced; no deployment
wants that, and a certificate the stack delivers shows it before deployment.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

from hostview import hosts as hostmap
from hostview import mailview, stackview, webview
from hostview.evidence import HostFile
from pulumi_policy import Severity
from readers import mtasts, postfixconf, tlscert

from rules import mtasts as sts
from rules import nullmx
from rules.kit import MANDATORY, Finding, NotApplicable, Note, Outcome, declare

SMTP_PORT = 25
CHAIN_FILES = "smtpd_tls_chain_files"
LEGACY_CERTIFICATES = ("smtpd_tls_cert_file", "smtpd_tls_eccert_file", "smtpd_tls_dcert_file")
NO_CERTIFICATE = "none"  # postconf(5) smtpd_tls_cert_file: explicit certificate-less (anonymous) TLS
# `postconf -d` of the parameters read here that postfixconf.DEFAULTS does not list.
TLS_DEFAULTS = {"smtpd_use_tls": "no", "smtpd_enforce_tls": "no"}  # every other one: empty
SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
# Debian's postinst appends /usr/share/postfix/main.cf.tls to the main.cf it creates when the snakeoil key
# exists (ssl-cert): what Postfix reads where the stack delivers no main.cf.
PACKAGED_MAIN_TLS = {"smtpd_tls_cert_file": SNAKEOIL_CERT,
                     "smtpd_tls_key_file": "/etc/ssl/private/ssl-cert-snakeoil.key",
                     "smtpd_tls_security_level": "may"}
PACKAGED_WHERE = "Debian's packaged main.cf (/usr/share/postfix/main.cf.tls)"
CLOCK_SKEW = datetime.timedelta(hours=1)  # as webmail-certificate-matches: a certificate issued just now
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
RFC_URL = "https://www.rfc-editor.org/rfc/rfc8461"


def _enforced(view: stackview.StackView, published: list[sts.Published]) -> Iterator[Note | tuple[str, str]]:
    """(MX host, domain) for each MX of a domain whose served policy is in mode enforce; notes for policies
    that cannot be read."""
    for item in published:
        enforce = False
        for outcome in sts._readable(view, item.domain):
            if isinstance(outcome, Note):
                yield outcome
            elif outcome[1].mode == "enforce":
                enforce = True
        if enforce:
            for host in sts._mx_hosts(view, item.domain, item.source):
                yield host.rstrip(".").lower(), item.domain


def _machines(view: stackview.StackView, name: str) -> list[hostmap.Host]:
    """The machines of the stack an MX name reaches: by its addresses in the stack's DNS, or as spelt."""
    addresses = set(view.addresses(name))
    found = [m for m in hostmap.of(view) if addresses & set(m.addresses)]
    spelt = hostmap.host_of(view, name)
    if spelt is not None and spelt.key and all(m is not spelt for m in found):
        found.append(spelt)
    return found


def _port25_services(ph: mailview.PostfixHost) -> list[postfixconf.MasterService]:
    """The smtpd services answering port 25 (master(5)): an inet smtpd there, or the `pass` smtpd that
    postscreen(8) hands each client to (STARTTLS is smtpd's)."""
    master = ph.effective_master
    inet = [s for s in master.services if s.service_type == "inet" and s.port == SMTP_PORT]
    found = [s for s in inet if s.command == "smtpd"]
    if any(s.command == "postscreen" for s in inet):
        found += [s for s in master.services if s.service_type == "pass" and s.command == "smtpd"]
    return found


def _value(ph: mailview.PostfixHost, name: str, service: postfixconf.MasterService) -> tuple[str | None, str]:
    """(expanded value, where it comes from); None when its `$name` expansion is unknown."""
    if ph.main_file is None and name not in service.overrides and name in PACKAGED_MAIN_TLS:
        return PACKAGED_MAIN_TLS[name], PACKAGED_WHERE
    if ph.main.raw(name, service.overrides) is None:
        return TLS_DEFAULTS.get(name, ""), "the Postfix default"
    where = ph.where(name, service)
    return ph.main.get(name, service.overrides), where.replace("a master.cf -o override",
                                                               f"master.cf line {service.line} -o")


def _starttls_off(ph: mailview.PostfixHost, service: postfixconf.MasterService) -> str | None | bool:
    """Why STARTTLS is not offered (postconf(5) smtpd_tls_security_level), False when it is, None: unknown."""
    level, where = _value(ph, "smtpd_tls_security_level", service)
    if level is None:
        return None
    level = level.strip().lower()
    if level == "none":
        return f"smtpd_tls_security_level = none ({where})"
    if level:
        return False
    legacy = [name for name in ("smtpd_use_tls", "smtpd_enforce_tls")
              if postfixconf.is_yes(_value(ph, name, service)[0])]
    return False if legacy else (f"smtpd_tls_security_level is empty ({where}) and neither smtpd_use_tls nor "
                                 "smtpd_enforce_tls is yes")


def _leaves(text: str) -> list[str]:
    """The server certificates of a PEM text: each certificate right after a private key (the
    smtpd_tls_chain_files order key, cert, chain), else the first certificate."""
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]
    after_key = [block for (kind, block), (before, _) in zip(blocks[1:], blocks, strict=False)
                 if kind == "CERTIFICATE" and before.endswith("PRIVATE KEY")]
    first = [block for kind, block in blocks if kind == "CERTIFICATE"][:1]
    return after_key or first or [text]  # [text]: a broken block, which read_leaf reports


def _certificate_problems(leaf: tlscert.Leaf, mx: str, now: datetime.datetime) -> list[str]:
    problems = []
    if not leaf.has_san:
        problems.append(f"has no subjectAltName (CN {', '.join(leaf.common_names) or 'none'}; RFC 8461 §4.2 "
                        "requires a SAN DNS-ID)")
    elif not tlscert.covered_by(leaf.dns_names, mx):
        problems.append(f"names {', '.join(leaf.dns_names) or 'no DNS name'}, not {mx}")
    if leaf.not_after <= now:
        problems.append(f"expired {leaf.not_after:%Y-%m-%d %H:%M} UTC")
    elif leaf.not_before > now + CLOCK_SKEW:
        problems.append(f"is not valid before {leaf.not_before:%Y-%m-%d %H:%M} UTC")
    return problems


def _service_outcomes(view: stackview.StackView, ph: mailview.PostfixHost, service: postfixconf.MasterService,
                      mx: str, shown: str, now: datetime.datetime) -> Iterator[Outcome]:
    at = f"{ph.label}, {ph.files}, port 25 service {service.name} ({service.command})"
    refuse = "senders applying the enforce policy refuse to deliver to it, so the mail is deferred, then bounced"
    off = _starttls_off(ph, service)
    if off is None:
        yield Note(f"{shown} on {at}: smtpd_tls_security_level has a $name the pack cannot expand; not judged")
        return
    if off:
        yield Finding(f"{shown} on {at} offers no STARTTLS: {off}; {refuse} (RFC 8461 §4.2): set "
                      f"smtpd_tls_security_level = may with a certificate naming {mx}", ph.urn)
        return
    chain, chain_where = _value(ph, CHAIN_FILES, service)
    if chain is None:
        yield Note(f"{shown} on {at}: {CHAIN_FILES} has a $name the pack cannot expand; not judged")
        return
    if chain.strip():  # one PEM sequence: the files as if concatenated, in order (postconf(5))
        presented = [(tuple(postfixconf.split_list(chain)), f"{CHAIN_FILES} ({chain_where})")]
    else:
        presented = []
        for name in LEGACY_CERTIFICATES:
            value, where = _value(ph, name, service)
            if value is None:
                yield Note(f"{shown} on {at}: {name} has a $name the pack cannot expand; not judged")
                return
            if value.strip():
                presented.append(((value.strip(),), f"{name} ({where})"))
    if any(paths == (NO_CERTIFICATE,) for paths, _ in presented):
        yield Finding(f"{shown} on {at}: smtpd_tls_cert_file = none is certificate-less TLS, which no sender can "
                      f"verify; {refuse} (RFC 8461 §4.2): configure a certificate naming {mx}", ph.urn)
        return
    if not presented:
        yield Finding(f"{shown} on {at} has no certificate ({', '.join(LEGACY_CERTIFICATES)} and {CHAIN_FILES} "
                      f"are empty), so Postfix disables STARTTLS; {refuse} (RFC 8461 §4.2): set "
                      f"smtpd_tls_chain_files (or smtpd_tls_cert_file) to a certificate naming {mx}", ph.urn)
        return
    for paths, how in presented:
        yield from _presented_outcomes(view, ph, paths, how, mx, f"{shown} on {at}", refuse, now)


def _delivered(view: stackview.StackView, ph: mailview.PostfixHost, paths: tuple[str, ...], how: str, mx: str,
               where: str) -> Iterator[Note | HostFile]:
    """The delivered file at each path, or a note for one the stack does not deliver or whose text is unknown."""
    files = webview.of(view, ph.machine) if ph.machine is not None else None
    for path in paths:
        delivered = files.file(path) if files is not None else None
        if delivered is None:
            made = (" (Debian's snakeoil, made on the host by make-ssl-cert: self-signed for the host's own name, "
                    "which no sender can verify)" if path == SNAKEOIL_CERT else "")
            yield Note(f"{where} presents {path}, from {how}{made}, which the stack does not deliver to "
                       f"{ph.label} (certbot on the host, or provided out of band): not judged; on the host, "
                       f"`openssl x509 -in {path} -noout -ext subjectAltName -dates` must name {mx} and be in date")
        elif delivered.text is None:
            problem = delivered.problem or "its text is not known"
            yield Note(f"{where}: {delivered.label} ({how}): {problem}", until_up="unknown" in problem)
        else:
            yield delivered


def _presented_outcomes(view: stackview.StackView, ph: mailview.PostfixHost, paths: tuple[str, ...], how: str,
                        mx: str, where: str, refuse: str, now: datetime.datetime) -> Iterator[Outcome]:
    found = list(_delivered(view, ph, paths, how, mx, where))
    notes = [item for item in found if isinstance(item, Note)]
    if notes:
        yield from notes
        return
    label = f"the certificate {' + '.join(f.label for f in found)} ({how})"
    urn = found[-1].urn
    text = "\n".join(f.text or "" for f in found)
    if "-----BEGIN CERTIFICATE-----" not in text:
        yield Note(f"{where}: {label} holds no PEM certificate here (a secret is a placeholder under preflight); "
                   "not judged")
        return
    for block in _leaves(text):
        try:
            leaf = tlscert.read_leaf(block)
        except ValueError as exc:
            yield Finding(f"{where}: {label} cannot be read as a PEM certificate ({exc}); {refuse} "
                          "(RFC 8461 §4.2)", urn)
            continue
        problems = _certificate_problems(leaf, mx, now)
        if problems:
            dates = f"valid {leaf.not_before:%Y-%m-%d} to {leaf.not_after:%Y-%m-%d}"
            yield Finding(f"{where}: {label} {'; '.join(problems)} ({dates}); {refuse} (RFC 8461 §4.2): "
                          f"present a certificate whose SAN names {mx}, in date", urn)


def _mx_outcomes(view: stackview.StackView, mx: str, domains: list[str],
                 now: datetime.datetime) -> Iterator[Outcome]:
    shown = f"{', '.join(domains)} (MTA-STS mode enforce): MX {mx}"
    machines = _machines(view, mx)
    if not machines:
        yield Note(f"{shown} is not a machine of the stack: its certificate is settled by whoever runs it")
        return
    instances = [ph for ph in mailview.postfix_hosts(view) if any(ph.machine is m for m in machines)]
    if not instances:
        labels = ", ".join(m.label for m in machines)
        yield Note(f"{shown} is {labels}, to which the stack delivers no Postfix configuration: not judged")
        return
    listening = False
    for ph in instances:
        if (problem := ph.unreadable()) is not None:
            yield Note(f"{shown} on {ph.label}: {problem}", until_up="unknown" in problem)
            listening = True
            continue
        for service in _port25_services(ph):
            listening = True
            yield from _service_outcomes(view, ph, service, mx, shown, now)
    if not listening:
        yield Note(f"{shown}: no Postfix instance on {', '.join(ph.label for ph in instances)} runs smtpd on "
                   "port 25 (master.cf); not judged")


@declare(
    "mta-sts-enforce-needs-mx-certificates", lesson=6, level=MANDATORY, severity=Severity.HIGH,
    description="Under an MTA-STS policy in mode enforce, every MX host of the stack offers STARTTLS on port 25 "
                "with a certificate that names it and is in date.",
    remediation="Give each MX host's Postfix (smtpd_tls_chain_files, or smtpd_tls_cert_file) a certificate whose "
                "SAN names the MX host exactly as the MX record spells it (or a `*.` wildcard over one label), "
                "renewed before it expires, with smtpd_tls_security_level = may; or publish `mode: testing` "
                "until it does.",
    url=f"{RFC_URL}#section-4.2",
    tags=["mail", "tls", "lesson-6"],
)
def enforce_needs_mx_certificates_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    published = [p for p in sts._published(view, mtasts.TXT_PREFIX) if p.record() is not None]
    waiting = sts._waiting(view, {p.domain for p in published})
    enforced: dict[str, list[str]] = {}
    for outcome in _enforced(view, published):
        if isinstance(outcome, Note):
            yield outcome
        else:
            mx, domain = outcome
            enforced.setdefault(mx, [])
            if domain not in enforced[mx]:
                enforced[mx].append(domain)
    waiting += nullmx._waiting(view, {"A", "AAAA", "CNAME"}, set(enforced)) if enforced else []
    if not enforced and not waiting:
        yield NotApplicable("no domain of the stack serves an MTA-STS policy in mode enforce")
        return
    now = datetime.datetime.now(datetime.UTC)
    for mx, domains in sorted(enforced.items()):
        yield from _mx_outcomes(view, mx, domains, now)
    for why in dict.fromkeys(waiting):
        yield Note(f"MTA-STS judged at up: {why}", until_up=True)
