"""webmail-certificate-matches: delivered certificates, ACME requests and plain HTTP."""

from __future__ import annotations

from pack_builders import SECRET, SIG, copy_file, resource, run, view_of
from rules import web as web_rules
from test_tlscert import pem

from components.render.certificate import render_acme_script
from components.render.nginx import render_nginx_site

HOST = "www.example.net"
NAME = "webmail.example.net"
CERT = f"/etc/ssl/isp/{NAME}/fullchain.pem"


def site(name: str = NAME, cert: str = CERT, acme: bool = False) -> str:
    return render_nginx_site(server_name=name, role="webmail", root="/var/lib/roundcube/public_html",
                             tls_cert_path=cert, tls_key_path=cert.replace("fullchain", "privkey"),
                             upstream="unix:/run/php/php8.2-fpm.sock",
                             acme_webroot="/var/lib/isp-acme" if acme else None)


def delivered_site(text: str | None = None, host: str = HOST):
    return copy_file(host, f"/etc/nginx/conf.d/isp-staging/{NAME}.conf", text or site())


def delivered_pem(text: str, host: str = HOST, path: str = f"/etc/ssl/isp/{NAME}/isp-staging/fullchain.pem"):
    return copy_file(host, path, text)


def acme_script(name: str = NAME) -> str:
    return render_acme_script(name=name, email="hostmaster@example.net", challenge="http-01",
                              cert_dir=f"/etc/ssl/isp/{name}", script_path=f"/usr/local/sbin/isp-acme-{name}")


def command(host: str, create: str):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "k"}},
             "create": create}
    return resource("command:remote:Command", "certbot", props)


def findings(*resources, config: dict | None = None):
    return run(web_rules.webmail_certificate_findings, view_of(*resources), config)


def test_provided_certificate_that_matches():
    assert findings(delivered_site(), delivered_pem(pem([NAME]))) == ([], None)
    assert findings(delivered_site(), delivered_pem(pem(["*.example.net"]))) == ([], None)
    # The real path counts as much as our staged one.
    assert findings(delivered_site(), delivered_pem(pem([NAME]), path=CERT)) == ([], None)


def test_provided_certificate_for_another_name():
    (message,), _ = findings(delivered_site(), delivered_pem(pem(["www.example.net", "example.net"])))
    assert message.startswith(f"the certificate {CERT} on {HOST} names www.example.net, example.net but the site "
                              f"serves {NAME}: browsers will warn every user")
    assert message.endswith(f"[/etc/nginx/conf.d/isp-staging/{NAME}.conf on {HOST} (server at line 13, {NAME})]")
    (message,), _ = findings(delivered_site(), delivered_pem(pem(["*.webmail.example.net"])))
    assert "names *.webmail.example.net but the site serves webmail.example.net" in message


def test_cn_only_and_expired_certificates():
    (message,), _ = findings(delivered_site(), delivered_pem(pem(None)))
    assert f"has no subjectAltName (CN {NAME}); browsers ignore the CN" in message
    (message,), _ = findings(delivered_site(), delivered_pem(pem([NAME], days=(-90, -1))))
    assert " expired (not after " in message
    assert findings(delivered_site(), delivered_pem(pem([NAME], days=(-1, 10)))) == ([], None)
    (message,), _ = findings(delivered_site(), delivered_pem(pem([NAME], days=(-1, 10))),
                             config={"minimumDaysValid": 14})
    assert "expires within 14 days" in message
    (message,), _ = findings(delivered_site(), delivered_pem(pem([NAME], days=(5, 90))))
    assert "is not valid before" in message


def test_unreadable_certificate():
    (message,), _ = findings(delivered_site(), delivered_pem("-----BEGIN CERTIFICATE-----\nAAAA\n"))
    assert "cannot be read as a PEM certificate" in message


def test_a_certificate_on_another_host_is_not_this_sites():
    assert findings(delivered_site(), delivered_pem(pem(["other.example.net"]), host="mail.example.net")) == ([], None)


def test_acme_request_for_exactly_the_name():
    script = copy_file(HOST, f"/usr/local/sbin/isp-staging/isp-acme-{NAME}", acme_script())
    assert findings(delivered_site(site(acme=True)), script) == ([], None)


def test_acme_request_for_another_name():
    wrong = acme_script().replace(f"-d '{NAME}'", "-d 'www.example.net'")
    script = copy_file(HOST, f"/usr/local/sbin/isp-staging/isp-acme-{NAME}", wrong)
    (message,), _ = findings(delivered_site(site(acme=True)), script)
    line = next(i for i, text in enumerate(wrong.splitlines(), start=1) if "certbot certonly" in text)
    assert message.startswith(f"/usr/local/sbin/isp-staging/isp-acme-{NAME} on {HOST} (line {line}: certbot) asks "
                              f"the CA for www.example.net for the certificate {CERT}, but the site serves {NAME}")


def test_acme_in_a_command_and_letsencrypt_live_paths():
    live = f"/etc/letsencrypt/live/{NAME}/fullchain.pem"
    good = command(HOST, f"certbot certonly --webroot -w /var/www -d {NAME}")
    assert findings(delivered_site(site(cert=live)), good) == ([], None)
    other = command(HOST, "certbot certonly --webroot -w /var/www -d www.example.net")
    (message,), _ = findings(delivered_site(site(cert=live)), other)
    assert message.endswith(f"reads {live}, which no ACME request on {HOST} creates (requests: www.example.net "
                            f"(command certbot on {HOST})): request exactly {NAME}")
    # A certificate neither delivered nor requested is managed elsewhere.
    assert findings(delivered_site(site(cert=live))) == ([], None)


def test_plain_http_without_redirect():
    text = site().replace(f"return 301 https://{NAME}$request_uri;", "root /var/lib/roundcube/public_html;")
    (message,), _ = findings(delivered_site(text), delivered_pem(pem([NAME])))
    assert message.startswith(f"/etc/nginx/conf.d/isp-staging/{NAME}.conf on {HOST} (server at line 3, {NAME}) serves "
                              "webmail over plain HTTP (port 80) without redirecting to https://")
    plain_only = f"server {{ listen 80; server_name {NAME}; root /usr/share/roundcube; }}\n"
    assert "serves webmail over plain HTTP (port 80)" in findings(delivered_site(plain_only))[0][0]


def test_webmail_found_by_application_and_by_configured_label():
    by_app = "server { listen 80; server_name post.example.net; location / { root /usr/share/roundcube; } }\n"
    assert len(findings(delivered_site(by_app))[0]) == 1
    by_label = "server { listen 80; server_name mail.example.net; root /srv/www; }\n"
    assert findings(delivered_site(by_label)) == ([], "the stack delivers no nginx site for a webmail name or "
                                                      "application")
    assert len(findings(delivered_site(by_label), config={"webmailLabels": ["mail"]})[0]) == 1


def test_hostile_files_never_raise():
    for text in ("server {" * 300, "server { listen 80; server_name webmail.example.net; return 301 }",
                 "\x00\x01", "server { ssl_certificate; listen 443 ssl; server_name webmail.example.net; }"):
        messages, _ = findings(delivered_site(text), delivered_pem("junk"))
        assert not any("could not judge" in m for m in messages)
