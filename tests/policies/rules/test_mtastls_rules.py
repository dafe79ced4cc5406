"""`mta-sts-enforce-needs-mx-certificates` on stacks written as operators write them: a Cloudflare zone
publishing `_mta-sts` and the MX, the policy file under an nginx root, and the mail host's Postfix
main.cf/master.cf and certificate delivered by CopyToRemote. Under mode enforce a sender validates the
MX certificate (RFC 8461 §4.2: a SAN DNS-ID matching the MX host per RFC 6125, not expired) and
refuses to deliver otherwise; the certificates are real ones made with `cryptography`."""

from __future__ import annotations

import hashlib

import pytest
from hostview import evidence
from pack_builders import SECRET, SIG, UNKNOWN, copy_file, pem, record, resource, run, view_of, zone
from rules import mtastls as rules

DOMAIN = "example.net"
WEB = "web1.example.net"
MX = "mail.example.net"
POLICY_PATH = "/var/www/mta-sts/.well-known/mta-sts.txt"
ENFORCE = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.net\r\nmax_age: 604800\r\n"
NGINX_SITE = """server {
    listen 443 ssl;
    server_name mta-sts.example.net;
    ssl_certificate /etc/ssl/mta-sts/fullchain.pem;
    ssl_certificate_key /etc/ssl/mta-sts/privkey.pem;
    root /var/www/mta-sts;
}
"""
LIVE = "/etc/letsencrypt/live/mail.example.net/fullchain.pem"
MAIN_CF = f"""myhostname = mail.example.net
mydomain = example.net
smtpd_banner = $myhostname ESMTP
smtpd_tls_cert_file = {LIVE}
smtpd_tls_key_file = /etc/letsencrypt/live/mail.example.net/privkey.pem
smtpd_tls_security_level = may
"""
CHAIN_MAIN_CF = """myhostname = mail.example.net
smtpd_tls_chain_files = /etc/postfix/tls/rsa.pem
smtpd_tls_security_level = may
"""
KEY_BLOCK = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"


def dns(policy: str = ENFORCE, mx: tuple[str, ...] = (MX,)):
    z = zone(DOMAIN)
    out = [z, record(WEB, "A", "198.51.100.80", zone_resource=z), record(MX, "A", "198.51.100.25", zone_resource=z),
           record("mta-sts.example.net", "CNAME", WEB, zone_resource=z),
           record("_mta-sts.example.net", "TXT", f"v=STSv1; id={hashlib.sha256(policy.encode()).hexdigest()[:32]}",
                  zone_resource=z)]
    out += [record(DOMAIN, "MX", host, priority=10 * (i + 1), zone_resource=z) for i, host in enumerate(mx)]
    return out + [copy_file(WEB, "/etc/nginx/sites-enabled/mta-sts.conf", NGINX_SITE),
                  copy_file(WEB, POLICY_PATH, policy)]


def mail_host(main_cf: str = MAIN_CF, certificate: str | None = None, path: str = LIVE, master_cf: str | None = None):
    out = [copy_file(MX, "/etc/postfix/main.cf", main_cf)]
    if master_cf is not None:
        out.append(copy_file(MX, "/etc/postfix/master.cf", master_cf))
    if certificate is not None:
        out.append(copy_file(MX, path, certificate))
    return out


def outcomes(*resources):
    return run(rules.enforce_needs_mx_certificates_findings, view_of(*resources))


def test_a_delivered_certificate_naming_the_mx_and_in_date_is_compliant() -> None:
    assert outcomes(*dns(), *mail_host(certificate=pem([MX]))) == ([], None)
    wildcard = pem(["*.example.net"], common_name="*.example.net")
    assert outcomes(*dns(), *mail_host(certificate=wildcard)) == ([], None)


def test_a_certificate_for_another_name_blocks_and_names_what_it_names() -> None:
    (message,), _ = outcomes(*dns(), *mail_host(certificate=pem(["mx.example.org"], common_name="mx.example.org")))
    assert message.startswith("example.net (MTA-STS mode enforce): MX mail.example.net on mail.example.net "
                              "(198.51.100.25), /etc/postfix/main.cf, port 25 service smtp (smtpd): the certificate "
                              f"{LIVE} on mail.example.net (smtpd_tls_cert_file (main.cf line 4)) names "
                              "mx.example.org, not mail.example.net (valid ")
    assert "senders applying the enforce policy refuse to deliver to it" in message
    assert rules.enforce_needs_mx_certificates_findings.declaration.level == rules.MANDATORY


def test_a_wildcard_covers_one_label_only_and_the_cn_is_never_used() -> None:
    deeper = pem(["*.mail.example.net"])
    (message,), _ = outcomes(*dns(), *mail_host(certificate=deeper))
    assert "names *.mail.example.net, not mail.example.net" in message
    (message,), _ = outcomes(*dns(), *mail_host(certificate=pem(None, common_name=MX)))
    assert "has no subjectAltName (CN mail.example.net; RFC 8461 §4.2 requires a SAN DNS-ID)" in message


def test_an_expired_certificate_blocks_with_its_dates() -> None:
    (message,), _ = outcomes(*dns(), *mail_host(certificate=pem([MX], days=(-120, -30))))
    assert ": the certificate /etc/letsencrypt/live/mail.example.net/fullchain.pem on mail.example.net" in message
    assert " expired " in message and " UTC (valid " in message


def test_smtpd_tls_chain_files_key_then_certificate() -> None:
    good = KEY_BLOCK + pem([MX]) + pem(["Intermediate CA"], common_name="R11")
    stack = [*dns(), *mail_host(CHAIN_MAIN_CF, good, "/etc/postfix/tls/rsa.pem")]
    assert outcomes(*stack) == ([], None)
    bad = KEY_BLOCK + pem(["mx.example.org"])
    (message,), _ = outcomes(*dns(), *mail_host(CHAIN_MAIN_CF, bad, "/etc/postfix/tls/rsa.pem"))
    assert "the certificate /etc/postfix/tls/rsa.pem on mail.example.net (smtpd_tls_chain_files (main.cf line 2)) " \
           "names mx.example.org, not mail.example.net" in message


def test_chain_files_with_the_key_in_the_file_before_are_read_as_one_sequence() -> None:
    # postconf(5): several files are equivalent to their concatenation; a key may precede its chain's file.
    split = CHAIN_MAIN_CF.replace("/etc/postfix/tls/rsa.pem", "/etc/postfix/tls/rsa.key /etc/postfix/tls/rsa.crt")
    stack = [*dns(), *mail_host(split), copy_file(MX, "/etc/postfix/tls/rsa.key", KEY_BLOCK),
             copy_file(MX, "/etc/postfix/tls/rsa.crt", pem(["mx.example.org"]))]
    (message,), _ = outcomes(*stack)
    assert "the certificate /etc/postfix/tls/rsa.key on mail.example.net + /etc/postfix/tls/rsa.crt on " \
           "mail.example.net (smtpd_tls_chain_files (main.cf line 2)) names mx.example.org" in message


def test_a_chain_file_without_a_certificate_here_is_a_secret_placeholder_not_judged() -> None:
    stack = [*dns(), *mail_host(CHAIN_MAIN_CF, "[secret]", "/etc/postfix/tls/rsa.pem")]
    findings, reason = outcomes(*stack)
    assert findings == [] and "holds no PEM certificate here (a secret is a placeholder under preflight)" in reason


def test_chain_files_replace_the_legacy_certificate() -> None:
    # postconf(5): when smtpd_tls_chain_files is non-empty the legacy parameters are ignored.
    both = MAIN_CF + "smtpd_tls_chain_files = /etc/postfix/tls/rsa.pem\n"
    stack = [*dns(), *mail_host(both, KEY_BLOCK + pem([MX]), "/etc/postfix/tls/rsa.pem"),
             copy_file(MX, LIVE, pem(["mx.example.org"]))]
    assert outcomes(*stack) == ([], None)


def test_a_master_cf_override_on_the_smtp_service_wins() -> None:
    master = ("smtp      inet  n       -       y       -       -       smtpd\n"
              "  -o smtpd_tls_cert_file=/etc/postfix/mx.pem\n")
    stack = [*dns(), *mail_host(certificate=pem([MX]), master_cf=master),
             copy_file(MX, "/etc/postfix/mx.pem", pem(["old.example.net"]))]
    (message,), _ = outcomes(*stack)
    assert "/etc/postfix/mx.pem on mail.example.net (smtpd_tls_cert_file (master.cf line 1 -o)) names " \
           "old.example.net" in message


def test_no_starttls_on_port_25_blocks() -> None:
    off = MAIN_CF.replace("smtpd_tls_security_level = may", "smtpd_tls_security_level = none")
    (message,), _ = outcomes(*dns(), *mail_host(off, pem([MX])))
    assert "port 25 service smtp (smtpd) offers no STARTTLS: smtpd_tls_security_level = none (main.cf line 6)" \
           in message
    silent = "myhostname = mail.example.net\n"  # a delivered main.cf replaces Debian's: no certificate, no TLS
    (message,), _ = outcomes(*dns(), *mail_host(silent))
    assert "offers no STARTTLS: smtpd_tls_security_level is empty (the Debian postfix default)" in message
    no_certificate = "myhostname = mail.example.net\nsmtpd_tls_security_level = may\n"
    (message,), _ = outcomes(*dns(), *mail_host(no_certificate))
    assert "has no certificate (smtpd_tls_cert_file, smtpd_tls_eccert_file, smtpd_tls_dcert_file and " \
           "smtpd_tls_chain_files are empty), so Postfix disables STARTTLS" in message
    (message,), _ = outcomes(*dns(), *mail_host(no_certificate + "smtpd_tls_cert_file = none\n"))
    assert "smtpd_tls_cert_file = none is certificate-less TLS, which no sender can verify" in message


def test_a_certificate_the_stack_does_not_deliver_is_not_judged() -> None:
    findings, reason = outcomes(*dns(), *mail_host())
    assert findings == []
    assert f"presents {LIVE}, from smtpd_tls_cert_file (main.cf line 4), which the stack does not deliver to " \
           "mail.example.net (198.51.100.25) (certbot on the host, or provided out of band): not judged" in reason


def test_without_a_delivered_main_cf_debians_snakeoil_is_named_not_judged() -> None:
    master = "smtp      inet  n       -       y       -       -       smtpd\n"
    findings, reason = outcomes(*dns(), copy_file(MX, "/etc/postfix/master.cf", master))
    assert findings == [] and "presents /etc/ssl/certs/ssl-cert-snakeoil.pem, from smtpd_tls_cert_file " \
                              "(Debian's packaged main.cf" in reason and "self-signed" in reason


def test_testing_mode_is_not_judged() -> None:
    testing = ENFORCE.replace("enforce", "testing")
    findings, reason = outcomes(*dns(testing), *mail_host(certificate=pem(["mx.example.org"])))
    assert findings == [] and reason == "no domain of the stack serves an MTA-STS policy in mode enforce"


def test_an_mx_outside_the_stack_is_not_judged() -> None:
    findings, reason = outcomes(*dns(mx=("mx.example.org",)))
    assert findings == [] and "MX mx.example.org is not a machine of the stack" in reason


def test_behind_postscreen_the_pass_smtpd_presents_the_certificate() -> None:
    master = ("smtp      inet  n       -       y       -       1       postscreen\n"
              "smtpd     pass  -       -       y       -       -       smtpd\n"
              "  -o smtpd_tls_cert_file=/etc/postfix/mx.pem\n")
    stack = [*dns(), *mail_host(certificate=pem([MX]), master_cf=master),
             copy_file(MX, "/etc/postfix/mx.pem", pem(["old.example.net"]))]
    (message,), _ = outcomes(*stack)
    assert "port 25 service smtpd (smtpd)" in message and "names old.example.net" in message


def test_a_certificate_unknown_at_preview_waits_for_up() -> None:
    unknown = resource("command:remote:CopyToRemote", "mx-cert", {
        "connection": {SIG: SECRET, "value": {"host": MX, "user": "deploy", "privateKey": "k"}},
        "source": UNKNOWN, "remotePath": LIVE})
    with pytest.raises(evidence.UnknownValueError) as raised:
        outcomes(*dns(), *mail_host(), unknown)
    assert "the source is unknown during preview" in raised.value.message
