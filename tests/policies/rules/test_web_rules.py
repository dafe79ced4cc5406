"""webmail-certificate-matches: delivered certificates, ACME requests and plain HTTP."""

from __future__ import annotations

from pack_builders import SECRET, SIG, UNKNOWN, copy_file, pem, resource, run, view_of
from rules import web as web_rules

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
    messages, reason = findings(delivered_site(), delivered_pem(pem(["other.example.net"]), host="mail.example.net"))
    assert messages == [] and reason.startswith("not judged: ") and "neither delivered nor requested" in reason


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
    # A certificate neither delivered nor requested is managed elsewhere: not judged, with a note.
    assert findings(delivered_site(site(cert=live))) == ([], (
        f"not judged: /etc/nginx/conf.d/isp-staging/{NAME}.conf on {HOST} (server at line 13, {NAME}): the "
        f"certificate {live} is neither delivered nor requested by the stack (managed elsewhere)"))


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
    assert findings(delivered_site(by_label)) == ([], "the stack delivers no web site (nginx, Apache, Caddy, "
                                                      "lighttpd) for a webmail name or application")
    assert len(findings(delivered_site(by_label), config={"webmailLabels": ["mail"]})[0]) == 1


def test_hostile_files_never_raise():
    for text in ("server {" * 300, "server { listen 80; server_name webmail.example.net; return 301 }",
                 "\x00\x01", "server { ssl_certificate; listen 443 ssl; server_name webmail.example.net; }"):
        messages, _ = findings(delivered_site(text), delivered_pem("junk"))
        assert not any("could not judge" in m for m in messages)


# --- every dialect, on the machine view ---------------------------------------------------------------------------

WWW_ONLY = ["www.example.net", "example.net"]
APACHE_WEBMAIL = f"""<VirtualHost *:80>
    ServerName {NAME}
    Redirect permanent / https://{NAME}/
</VirtualHost>

<VirtualHost *:443>
    ServerName {NAME}
    DocumentRoot /var/lib/roundcube/public_html
    SSLEngine on
    SSLCertificateFile /etc/ssl/certs/{NAME}.pem
    SSLCertificateKeyFile /etc/ssl/private/{NAME}.key
</VirtualHost>
"""
APACHE_SITE = f"/etc/apache2/sites-available/{NAME}.conf"


def apache(text: str = APACHE_WEBMAIL, enable: bool = True):
    out = [copy_file(HOST, APACHE_SITE, text)]
    enabling = command(HOST, f"a2enmod ssl rewrite\na2ensite {NAME}\nsystemctl reload apache2\n")
    return out + ([enabling] if enable else [])


def test_apache_vhost_for_webmail_with_a_certificate_for_www_only():
    (message,), _ = findings(*apache(), copy_file(HOST, f"/etc/ssl/certs/{NAME}.pem", pem(WWW_ONLY)))
    assert message == (f"the certificate /etc/ssl/certs/{NAME}.pem on {HOST} names www.example.net, example.net but "
                       f"the site serves {NAME}: browsers will warn every user; use a certificate whose SAN covers "
                       f"{NAME} [{APACHE_SITE} on {HOST} (<VirtualHost *:443> at line 6, {NAME})]")


def test_apache_vhost_with_a_matching_certificate_passes():
    assert findings(*apache(), copy_file(HOST, f"/etc/ssl/certs/{NAME}.pem", pem([NAME]))) == ([], None)


def test_apache_site_not_enabled_is_judged_as_if_enabled_and_says_so():
    (message,), _ = findings(*apache(enable=False), copy_file(HOST, f"/etc/ssl/certs/{NAME}.pem", pem(WWW_ONLY)))
    assert message.endswith(f"(<VirtualHost *:443> at line 6, {NAME}; delivered to /etc/apache2/sites-available with "
                            "no a2ensite seen: judged as if enabled)]")


def test_apache_plain_http_webmail_without_redirect():
    text = APACHE_WEBMAIL.replace(f"    Redirect permanent / https://{NAME}/\n",
                                  "    DocumentRoot /var/lib/roundcube/public_html\n")
    (message,), _ = findings(*apache(text), copy_file(HOST, f"/etc/ssl/certs/{NAME}.pem", pem([NAME])))
    assert message == (f"{APACHE_SITE} on {HOST} (<VirtualHost *:80> at line 1, {NAME}) serves webmail over plain HTTP "
                       "(port 80) without redirecting to https://; passwords would cross the network in clear: answer "
                       f"plain HTTP with `Redirect permanent / https://{NAME}/`")


def test_apache_with_certbot_and_an_include_the_stack_does_not_deliver():
    text = APACHE_WEBMAIL.replace(f"/etc/ssl/certs/{NAME}.pem", f"/etc/letsencrypt/live/{NAME}/fullchain.pem")
    good = command(HOST, f"certbot --apache --non-interactive --agree-tos -m hostmaster@example.net -d {NAME}",
                   )
    assert findings(*apache(text), good) == ([], None)
    unknown = text.replace("    SSLEngine on\n", "    Include /etc/apache2/isp/tls-params.conf\n")
    wrong = command(HOST, "certbot certonly --apache -d www.example.net --cert-name " + NAME)
    messages, reason = findings(*apache(unknown), wrong)
    assert messages == [] and reason.startswith("not judged: ")
    assert "asks the CA for www.example.net" in reason and "Include /etc/apache2/isp/tls-params.conf" in reason


CADDY_WEBMAIL = f"""{NAME} {{
	root * /var/lib/roundcube/public_html
	php_fastcgi unix//run/php/php8.2-fpm.sock
	file_server
}}
"""


def test_caddy_site_with_automatic_https_passes():
    assert findings(copy_file(HOST, "/etc/caddy/Caddyfile", CADDY_WEBMAIL)) == ([], None)


def test_caddy_site_with_provided_certificate_for_www():
    text = CADDY_WEBMAIL.replace("\troot", "\ttls /etc/caddy/certs/webmail.pem /etc/caddy/certs/webmail.key\n\troot")
    (message,), _ = findings(copy_file(HOST, "/etc/caddy/Caddyfile", text),
                             copy_file(HOST, "/etc/caddy/certs/webmail.pem", pem(WWW_ONLY)))
    assert message.startswith(f"the certificate /etc/caddy/certs/webmail.pem on {HOST} names www.example.net")
    assert message.endswith(f"[/etc/caddy/Caddyfile on {HOST} (site block {NAME} at line 1, {NAME})]")


def test_caddy_webmail_over_explicit_plain_http():
    (message,), _ = findings(copy_file(HOST, "/etc/caddy/Caddyfile", "http://" + CADDY_WEBMAIL))
    assert "serves webmail over plain HTTP (port 80)" in message
    assert f"`redir https://{NAME}{{uri}} permanent`" in message


LIGHTTPD_WEBMAIL = f"""server.modules += ( "mod_openssl", "mod_redirect" )
$SERVER["socket"] == ":443" {{
    ssl.engine = "enable"
    ssl.pemfile = "/etc/lighttpd/certs/wildcard.example.net.pem"
}}
$HTTP["scheme"] == "http" {{
    url.redirect = ("" => "https://${{url.authority}}${{url.path}}${{qsa}}")
}}
$HTTP["host"] == "{NAME}" {{
    server.document-root = "/usr/share/roundcube"
}}
"""


def test_lighttpd_with_a_wildcard_certificate_passes():
    resources = [copy_file(HOST, "/etc/lighttpd/conf-enabled/90-webmail.conf", LIGHTTPD_WEBMAIL),
                 copy_file(HOST, "/etc/lighttpd/certs/wildcard.example.net.pem", pem(["*.example.net"]))]
    assert findings(*resources) == ([], None)


def test_lighttpd_without_the_redirect_and_with_a_wrong_certificate():
    text = LIGHTTPD_WEBMAIL.replace('"" => "https://', '"^/old/(.*)" => "https://')
    messages, _ = findings(copy_file(HOST, "/etc/lighttpd/conf-enabled/90-webmail.conf", text),
                           copy_file(HOST, "/etc/lighttpd/certs/wildcard.example.net.pem", pem(["*.example.org"])))
    assert len(messages) == 2
    assert messages[0].startswith(f'/etc/lighttpd/conf-enabled/90-webmail.conf on {HOST} ($HTTP["host"] == "{NAME}" at '
                                  f"line 9, {NAME}) serves webmail over plain HTTP (port 80)")
    assert "names *.example.org but the site serves webmail.example.net" in messages[1]


def test_lighttpd_include_shell_is_not_judged():
    text = LIGHTTPD_WEBMAIL.replace('url.redirect = ("" => "https://${url.authority}${url.path}${qsa}")', "") + (
        'include_shell "/usr/local/sbin/vhosts.sh"\n')
    messages, reason = findings(copy_file(HOST, "/etc/lighttpd/lighttpd.conf", text),
                                copy_file(HOST, "/etc/lighttpd/certs/wildcard.example.net.pem", pem(["*.example.org"])))
    assert messages == [] and "include_shell" in reason and "runs a command whose output only the host knows" in reason


def unknown_file(path: str):
    props = {"connection": {SIG: SECRET, "value": {"host": HOST, "user": "root", "privateKey": "k"}},
             "source": UNKNOWN, "remotePath": path}
    return resource("command:remote:CopyToRemote", path.replace("/", "-"), props)


def test_a_certificate_or_a_site_unknown_at_preview_is_not_judged():
    # A note, never a block: the same files are judged once their text is known (at up).
    messages, reason = findings(*apache(), unknown_file(f"/etc/ssl/certs/{NAME}.pem"))
    assert messages == [] and reason == (
        f"not judged: the certificate /etc/ssl/certs/{NAME}.pem on {HOST} (for {APACHE_SITE} on {HOST} (<VirtualHost "
        f"*:443> at line 6, {NAME})): the source is unknown during preview")
    messages, reason = findings(unknown_file("/etc/caddy/Caddyfile"))
    assert messages == [] and "/etc/caddy/Caddyfile" in reason and "unknown during preview" in reason


def test_hostile_files_of_every_dialect_never_raise():
    for path, text in (("/etc/apache2/sites-enabled/x.conf", "<VirtualHost *:443>\nServerName webmail.example.net\n"
                        "SSLEngine on\nSSLCertificateFile /etc/ssl/x.pem\n" + "<If>" * 500),
                       ("/etc/caddy/Caddyfile", "webmail.example.net {\n\ttls /etc/ssl/x.pem\n" + "{" * 500),
                       ("/etc/lighttpd/lighttpd.conf", '$HTTP["host"] == "webmail.example.net" {' * 100)):
        messages, _ = findings(copy_file(HOST, path, text), copy_file(HOST, "/etc/ssl/x.pem", "junk"))
        assert not any("could not judge" in m for m in messages)


def test_certbot_installer_rewrites_the_site_so_plain_http_is_not_judged():
    plain_only = f"<VirtualHost *:80>\n    ServerName {NAME}\n    DocumentRoot /var/lib/roundcube/public_html\n" \
                 "</VirtualHost>\n"
    installer = command(HOST, f"certbot --apache --non-interactive --agree-tos -m hostmaster@example.net -d {NAME}")
    messages, reason = findings(*apache(plain_only), installer)
    assert messages == [] and "runs certbot's apache installer, which rewrites this site on the host" in reason
    keeps_plain = command(HOST, f"certbot --apache --no-redirect -n --agree-tos -m hostmaster@example.net -d {NAME}")
    (message,), _ = findings(*apache(plain_only), keeps_plain)
    assert "serves webmail over plain HTTP (port 80)" in message
