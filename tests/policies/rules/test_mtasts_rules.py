"""The MTA-STS and TLS-RPT policies on stacks written as operators write them (RFC 8461, RFC 8460): a
Cloudflare zone or a BIND zone file, the policy file delivered by CopyToRemote under an nginx root, or
answered by a hand-written nginx site (a Command heredoc, `return 200 "..."` with nginx's escapes),
an Apache DocumentRoot and a Caddy `respond`."""

from __future__ import annotations

import hashlib

import pytest
from hostview import evidence
from pack_builders import SECRET, SIG, UNKNOWN, copy_file, record, resource, run, view_of, zone
from rules import mtasts as rules

WEB = "web1.example.net"
DOMAIN = "example.net"
POLICY_PATH = "/var/www/mta-sts/.well-known/mta-sts.txt"
ENFORCE = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.net\r\nmx: *.backup.example.net\r\nmax_age: 604800\r\n"
NGINX_SITE = """server {
    listen 443 ssl;
    server_name mta-sts.example.net;
    ssl_certificate /etc/ssl/mta-sts/fullchain.pem;
    ssl_certificate_key /etc/ssl/mta-sts/privkey.pem;
    root /var/www/mta-sts;
    location = /.well-known/mta-sts.txt { default_type text/plain; }
}
"""


def sha_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dns(*mx: str, sts: str | None = None, tls: str | None = "v=TLSRPT1; rua=mailto:tls@example.net",
        policy: str = ENFORCE):
    z = zone(DOMAIN)
    out = [z, record(WEB, "A", "198.51.100.80", zone_resource=z),
           record("mta-sts.example.net", "CNAME", WEB, zone_resource=z)]
    out += [record(DOMAIN, "MX", host, priority=10 * (i + 1), zone_resource=z) for i, host in enumerate(mx)]
    out.append(record("_mta-sts.example.net", "TXT", sts or f"v=STSv1; id={sha_id(policy)}", zone_resource=z))
    if tls is not None:
        out.append(record("_smtp._tls.example.net", "TXT", tls.replace("TLSRPT1", "TLSRPTv1"), zone_resource=z))
    return out


def served(policy: str = ENFORCE, site: str = NGINX_SITE):
    return [copy_file(WEB, "/etc/nginx/sites-enabled/mta-sts.conf", site),
            copy_file(WEB, POLICY_PATH, policy)]


def command(create: str, host: str = WEB):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "k"}},
             "create": create}
    return resource("command:remote:Command", "mta-sts-by-hand", props)


def outcomes(rule, *resources):
    return run(rule, view_of(*resources))


MX = ("mail.example.net", "mx2.backup.example.net")


# -- mta-sts-policy-matches-mx ---------------------------------------------------------------


def test_enforce_policy_listing_every_mx_with_a_wildcard_is_compliant() -> None:
    stack = [*dns(*MX), *served()]
    for rule in (rules.policy_matches_mx_findings, rules.mx_lines_current_findings, rules.id_tracks_policy_findings,
                 rules.valid_findings):
        assert outcomes(rule, *stack) == ([], None), rule.declaration.id


def test_enforce_policy_missing_an_mx_loses_mail() -> None:
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *dns(*MX, "mx3.example.org"), *served())
    assert message.startswith("example.net: MX mx3.example.org (Cloudflare) matches no mx: line of the policy root "
                              "/var/www/mta-sts (line 6): /var/www/mta-sts/.well-known/mta-sts.txt on web1.example.net")
    assert "mode enforce (mx: mail.example.net, *.backup.example.net); senders that apply MTA-STS refuse" in message


def test_the_wildcard_matches_one_label_only() -> None:
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *dns("mail.example.net", "a.b.backup.example.net"),
                             *served())
    assert "MX a.b.backup.example.net (Cloudflare) matches no mx: line" in message
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *dns("mail.example.net", "backup.example.net"),
                             *served())
    assert "MX backup.example.net (Cloudflare)" in message


def test_testing_mode_mismatch_is_only_advisory_and_stale_lines_are_reported() -> None:
    testing = ENFORCE.replace("enforce", "testing")
    stack = [*dns("mx9.example.org", policy=testing), *served(testing)]
    assert outcomes(rules.policy_matches_mx_findings, *stack) == ([], None)
    messages, _ = outcomes(rules.mx_lines_current_findings, *stack)
    assert any("MX mx9.example.org (Cloudflare) matches no mx: line" in m and "in mode testing senders still "
               "deliver" in m for m in messages)
    assert any("mx: mail.example.net, *.backup.example.net of the policy" in m and "matches no MX" in m
               for m in messages)


def test_mode_none_is_not_matched_against_the_mx_set() -> None:
    none = "version: STSv1\nmode: none\nmax_age: 86400\n"
    stack = [*dns("mx9.example.org", policy=none), *served(none)]
    assert outcomes(rules.policy_matches_mx_findings, *stack)[0] == []
    assert outcomes(rules.mx_lines_current_findings, *stack)[0] == []
    assert outcomes(rules.valid_findings, *stack)[0] == []


HEREDOC = r"""set -e
cat > /etc/nginx/sites-available/mta-sts <<'EOF'
server {
    listen 443 ssl http2;
    server_name mta-sts.example.net;
    ssl_certificate /etc/letsencrypt/live/mta-sts.example.net/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/mta-sts.example.net/privkey.pem;
    location = /.well-known/mta-sts.txt {
        default_type text/plain;
        return 200 "version: STSv1\nmode: enforce\nmx: mail.example.net\nmax_age: 86400\n";
    }
}
EOF
ln -sf /etc/nginx/sites-available/mta-sts /etc/nginx/sites-enabled/mta-sts
systemctl reload nginx
"""
HEREDOC_POLICY = "version: STSv1\nmode: enforce\nmx: mail.example.net\nmax_age: 86400\n"


def test_a_hand_written_nginx_return_decodes_nginx_escapes() -> None:
    stack = [*dns("mail.example.net", policy=HEREDOC_POLICY), command(HEREDOC)]
    for rule in (rules.policy_matches_mx_findings, rules.id_tracks_policy_findings, rules.valid_findings):
        assert outcomes(rule, *stack) == ([], None), rule.declaration.id
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *dns("mail.example.net", "mx2.example.net",
                                                                   policy=HEREDOC_POLICY), command(HEREDOC))
    assert message.startswith("example.net: MX mx2.example.net (Cloudflare) matches no mx: line of the policy "
                              "return (line 8) in /etc/nginx/sites-available/mta-sts on web1.example.net (heredoc")


# -- mta-sts-id-tracks-policy ---------------------------------------------------------------


def test_an_id_not_derived_from_the_policy_is_advisory() -> None:
    (message,), _ = outcomes(rules.id_tracks_policy_findings, *dns(*MX, sts="v=STSv1; id=20260101000000Z"),
                             *served())
    assert message.startswith("example.net: _mta-sts id=20260101000000Z (Cloudflare) is not derived from the policy "
                              "root /var/www/mta-sts")
    assert f"(its SHA-256 begins {sha_id(ENFORCE)})" in message
    assert rules.id_tracks_policy_findings.declaration.level == rules.ADVISORY


def test_an_edited_policy_with_the_old_id_is_flagged() -> None:
    edited = ENFORCE.replace("604800", "86400")
    (message,), _ = outcomes(rules.id_tracks_policy_findings, *dns(*MX, policy=ENFORCE), *served(edited))
    assert f"id={sha_id(ENFORCE)}" in message and sha_id(edited) in message


# -- mta-sts-valid --------------------------------------------------------------------------


def test_an_id_with_a_hyphen_makes_senders_discard_the_record() -> None:
    (message,), _ = outcomes(rules.valid_findings, *dns(*MX, sts="v=STSv1; id=2026-01-01"), *served())
    assert message == ("_mta-sts.example.net (Cloudflare) 'v=STSv1; id=2026-01-01' id=2026-01-01 is not 1 to 32 "
                       "letters and digits: senders discard it and assume no MTA-STS policy (RFC 8461 §3.1)")


def test_a_malformed_policy_and_a_bad_tlsrpt_record() -> None:
    bad = "version: STSv1\nmode: enforce\nmax_age: 99999999999\n"
    messages, _ = outcomes(rules.valid_findings, *dns(*MX, policy=bad, tls="v=TLSRPT1; rua=tls@example.net"),
                           *served(bad))
    assert any("max_age: 99999999999 is not 0 to 31557600 seconds; mode enforce lists no mx:" in m for m in messages)
    assert any(m.startswith("_smtp._tls.example.net (Cloudflare) 'v=TLSRPTv1; rua=tls@example.net' rua URI") and
               "senders send no TLS reports (RFC 8460 §3)" in m for m in messages)


def test_a_policy_no_site_serves_on_our_web_host() -> None:
    other = NGINX_SITE.replace("mta-sts.example.net", "www.example.net")
    (message,), _ = outcomes(rules.valid_findings, *dns(*MX), *served(site=other))
    assert message.startswith("example.net publishes _mta-sts (Cloudflare) but web1.example.net (198.51.100.80) "
                              "serves no HTTPS site for mta-sts.example.net")


def test_a_redirected_policy_is_not_fetched() -> None:
    redirect = NGINX_SITE.replace("root /var/www/mta-sts;", "return 301 https://www.example.net$request_uri;")
    (message,), _ = outcomes(rules.valid_findings, *dns(*MX), *served(site=redirect))
    assert "it answers with a redirect, which senders MUST NOT follow (RFC 8461 §3.3)" in message


def test_a_root_file_the_stack_does_not_deliver_is_not_judged() -> None:
    stack = [*dns(*MX), served()[0]]
    findings, reason = outcomes(rules.policy_matches_mx_findings, *stack)
    assert findings == [] and "which the stack does not deliver to web1.example.net" in reason


def test_apache_document_root_and_caddy_respond() -> None:
    apache = """<VirtualHost *:443>
    ServerName mta-sts.example.net
    SSLEngine on
    SSLCertificateFile /etc/ssl/mta-sts/fullchain.pem
    DocumentRoot /var/www/mta-sts
</VirtualHost>
"""
    stack = [*dns("mx3.example.org"), copy_file(WEB, "/etc/apache2/sites-enabled/mta-sts.conf", apache),
             copy_file(WEB, POLICY_PATH, ENFORCE)]
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *stack)
    assert "DocumentRoot /var/www/mta-sts (line 5): /var/www/mta-sts/.well-known/mta-sts.txt" in message
    caddy = 'mta-sts.example.net {\n\trespond /.well-known/mta-sts.txt "version: STSv1\nmode: enforce\n' \
            'mx: mail.example.net\nmax_age: 86400\n" 200\n}\n'
    stack = [*dns("mx3.example.org", policy=HEREDOC_POLICY), copy_file(WEB, "/etc/caddy/Caddyfile", caddy)]
    (message,), _ = outcomes(rules.policy_matches_mx_findings, *stack)
    assert "MX mx3.example.org (Cloudflare) matches no mx: line of the policy respond (line 2)" in message


# -- each publisher, preview -----------------------------------------------------------------

ZONE_FILE = """$TTL 3600
$ORIGIN example.net.
@ IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300
@ IN NS ns1.example.net.
@ IN MX 10 mail
@ IN MX 20 mx3.example.org.
web1 IN A 198.51.100.80
mta-sts IN CNAME web1
_mta-sts IN TXT "v=STSv1; id={id}"
"""


def test_a_zone_file_is_judged_as_its_own_publisher() -> None:
    text = ZONE_FILE.replace("{id}", sha_id(ENFORCE))
    (message,), _ = outcomes(rules.policy_matches_mx_findings, copy_file("ns1.example.net", "/etc/bind/db.example.net",
                                                                         text), *served())
    assert message.startswith("example.net: MX mx3.example.org (/etc/bind/db.example.net on ns1.example.net) matches")


def test_a_txt_unknown_at_preview_waits_for_up() -> None:
    z = zone(DOMAIN)
    stack = [z, record(DOMAIN, "MX", "mx3.example.org", priority=10, zone_resource=z),
             record("_mta-sts.example.net", "TXT", UNKNOWN, zone_resource=z, resource_name="sts"), *served()]
    for rule in (rules.policy_matches_mx_findings, rules.id_tracks_policy_findings, rules.valid_findings):
        with pytest.raises(evidence.UnknownValueError) as raised:
            outcomes(rule, *stack)
        assert raised.value.message == "MTA-STS judged at up: DNS record sts (TXT) has a value unknown during preview"


def test_a_policy_file_unknown_at_preview_waits_for_up() -> None:
    unknown_file = resource("command:remote:CopyToRemote", "policy", {
        "connection": {SIG: SECRET, "value": {"host": WEB, "user": "deploy", "privateKey": "k"}},
        "source": UNKNOWN, "remotePath": POLICY_PATH})
    with pytest.raises(evidence.UnknownValueError) as raised:
        outcomes(rules.policy_matches_mx_findings, *dns("mx3.example.org"), served()[0], unknown_file)
    assert raised.value.message == ("https://mta-sts.example.net/.well-known/mta-sts.txt on web1.example.net "
                                    "(198.51.100.80) "
                                    "(/etc/nginx/sites-enabled/mta-sts.conf on web1.example.net (server at line 1)): "
                                    "the source is unknown during preview")


# -- null-mx-no-mta-sts ---------------------------------------------------------------------


def test_a_null_mx_name_with_mta_sts_and_tlsrpt_records() -> None:
    z = zone("example.org")
    stack = [z, record("example.org", "MX", ".", priority=0, zone_resource=z),
             record("_mta-sts.example.org", "TXT", "v=STSv1; id=1", zone_resource=z),
             record("_smtp._tls.example.org", "TXT", "v=TLSRPTv1; rua=mailto:t@example.net", zone_resource=z)]
    messages, _ = outcomes(rules.null_mx_no_mta_sts_findings, *stack)
    assert len(messages) == 2
    assert messages[0].startswith("example.org publishes the null MX (MX 0 .) and also 'v=STSv1; id=1' (Cloudflare)")
    assert outcomes(rules.null_mx_no_mta_sts_findings, *stack[:2]) == ([], None)
