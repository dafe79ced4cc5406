"""webmail-certificate-matches on Roundcube served by nginx through PHP-FPM: the stack's own shape (its site,
its config.inc.php with imap_host, its certificate) and hand-written ones operators deliver. Roundcube is
recognised by its docroot or alias whatever the name, judged on its certificate and plain HTTP, and the
PHP-FPM upstream or the Roundcube config beside it never make a violation of their own."""

from __future__ import annotations

from pack_builders import copy_file, pem, run, view_of
from rules import web as web_rules

from components.render.nginx import render_nginx_site
from components.render.roundcube import CONFIG_PATH, render_roundcube_config

HOST = "webmail.example.net"
NAME = "webmail.example.net"
CERT = f"/etc/ssl/isp/{NAME}/fullchain.pem"
NOT_APPLICABLE = "the stack delivers no web site (nginx, Apache, Caddy, lighttpd) for a webmail name or application"


def findings(*resources):
    return run(web_rules.webmail_certificate_findings, view_of(*resources))


def stack_site() -> str:
    return render_nginx_site(server_name=NAME, role="webmail", root="/var/lib/roundcube/public_html",
                             tls_cert_path=CERT, tls_key_path=CERT.replace("fullchain", "privkey"),
                             upstream="unix:/run/php/php8.2-fpm.sock")


def roundcube_config(imap_host: str = "mail.example.net") -> str:
    return render_roundcube_config(webmail_name=NAME, imap_host=imap_host, smtp_host=imap_host,
                                   product_name="Example Webmail", store_path="/var/lib/roundcube/db/roundcube.sqlite",
                                   mail_domain="example.net")


def delivered(path: str, text: str, host: str = HOST):
    directory, _, base = path.rpartition("/")
    return copy_file(host, f"{directory}/isp-staging/{base}", text)


def test_the_stacks_roundcube_behind_php_fpm_with_its_certificate_passes_and_is_judged():
    site = delivered(f"/etc/nginx/conf.d/{NAME}.conf", stack_site())
    config = delivered(CONFIG_PATH, roundcube_config())
    assert findings(site, config, delivered(CERT, pem([NAME]))) == ([], None)
    # Judged, not skipped: the same site with a certificate for the IMAP host's name is a violation.
    (message,), _ = findings(site, config, delivered(CERT, pem(["mail.example.net"])))
    assert f"names mail.example.net but the site serves {NAME}" in message


def test_the_roundcube_config_alone_is_no_web_site():
    """config.inc.php (imap_host ssl://, smtp_host tls://) is Roundcube's, not a web server's: nothing to judge."""
    assert findings(delivered(CONFIG_PATH, roundcube_config("imap.example.net"))) == ([], NOT_APPLICABLE)


DEBIAN_SHAPED = """\
server {
    listen 80;
    server_name %(name)s;
    return 301 https://%(name)s$request_uri;
}
server {
    listen 443 ssl http2;
    server_name %(name)s;
    ssl_certificate %(cert)s;
    ssl_certificate_key /etc/ssl/private/roundcube.key;
    root %(root)s;
    index index.php;
    location ~ ^/(config|temp|logs)/ { deny all; }
    location ~ \\.php$ {
        include snippets/fastcgi-php.conf;
        fastcgi_pass %(upstream)s;
    }
}
"""


def test_a_hand_written_debian_site_is_recognised_by_roundcubes_root_whatever_its_name():
    """sites-available linked into sites-enabled, Debian's fastcgi-php snippet, PHP-FPM on a socket or TCP;
    named mail.example.net (no `webmail` label): Roundcube's docroot makes it webmail."""
    cert = "/etc/ssl/certs/roundcube.pem"
    for root in ("/var/lib/roundcube/public_html", "/usr/share/roundcube"):
        for upstream in ("unix:/run/php/php8.2-fpm.sock", "127.0.0.1:9000"):
            text = DEBIAN_SHAPED % {"name": "mail.example.net", "cert": cert, "root": root, "upstream": upstream}
            site = copy_file(HOST, "/etc/nginx/conf.d/roundcube.conf", text)
            assert findings(site, copy_file(HOST, cert, pem(["mail.example.net"]))) == ([], None), (root, upstream)
            (message,), _ = findings(site, copy_file(HOST, cert, pem([NAME])))
            assert f"names {NAME} but the site serves mail.example.net" in message, message


def test_roundcube_under_an_alias_of_the_www_site_is_webmail_too():
    text = """\
server {
    listen 80;
    server_name www.example.net;
    location /roundcube/ {
        alias /var/lib/roundcube/public_html/;
        location ~ \\.php$ {
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $request_filename;
            fastcgi_pass unix:/run/php/php8.2-fpm.sock;
        }
    }
}
"""
    (message,), _ = findings(copy_file(HOST, "/etc/nginx/conf.d/www.conf", text))
    assert "serves webmail over plain HTTP (port 80) without redirecting to https://" in message
    assert "www.example.net" in message


def test_roundcube_over_plain_http_through_php_fpm_is_a_violation():
    text = DEBIAN_SHAPED.replace("return 301 https://%(name)s$request_uri;", "root %(root)s;\n    location ~ \\.php$ "
                                 "{ include snippets/fastcgi-php.conf; fastcgi_pass %(upstream)s; }")
    text = text % {"name": NAME, "cert": CERT, "root": "/var/lib/roundcube/public_html",
                   "upstream": "unix:/run/php/php8.2-fpm.sock"}
    site = copy_file(HOST, "/etc/nginx/conf.d/webmail.conf", text)
    (message,), _ = findings(site, copy_file(HOST, CERT, pem([NAME])))
    assert f"(server at line 1, {NAME}) serves webmail over plain HTTP (port 80) without redirecting" in message
