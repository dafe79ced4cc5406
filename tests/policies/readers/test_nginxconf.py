"""nginx configs read into server blocks: listeners, names, certificate, redirects to https."""

from __future__ import annotations

import fnmatch

import pytest
from readers import nginxconf

from components.render.nginx import render_nginx_site


def server(text: str) -> nginxconf.Server:
    (found,) = nginxconf.servers(nginxconf.parse(text))
    return found


def test_tokens_quotes_comments_and_nesting():
    config = nginxconf.parse('http { # a comment\n  server { server_name "a.example.net" b.example.net; '
                             "add_header X-A 'x;y}' always; location ~ \"^/a{1,3}$\" { return 404; } }\n}\n")
    (block,) = nginxconf.servers(config)
    assert block.names == ["a.example.net", "b.example.net"]
    header = next(d for d in block.directives if d.name == "add_header")
    assert header.args == ["X-A", "x;y}", "always"]
    assert config.problems == []


@pytest.mark.parametrize(("written", "word"), [
    # ngx_conf_read_token's copy: \" \' \\ lose the backslash, \t \r \n become the characters...
    (r'"a\"b"', 'a"b'), (r"'it\'s'", "it's"), (r'"C:\\dir"', "C:\\dir"), (r'"tab\there"', "tab\there"),
    (r"a\nb", "a\nb"),
    # ...and every other pair stays as written: a regex keeps its escapes, quoted or not.
    (r"\.php$", r"\.php$"), (r'"^/(?:index|remote)\.php(?:$|/)"', r"^/(?:index|remote)\.php(?:$|/)"),
    (r"\d+", r"\d+"),
    # A backslash also makes a separator part of the word (and is kept with it).
    (r"/var/www\;x", r"/var/www\;x"), (r"a\ b", r"a\ b"),
])
def test_a_backslash_is_read_as_nginx_copies_it(written, word):
    config = nginxconf.parse(f"location ~ {written} {{ root /srv; }}")
    assert config.directives[0].args == ["~", word], config.directives


def test_unbalanced_input_is_read_without_raising():
    assert nginxconf.parse("server { listen 80;").problems
    assert nginxconf.parse("}}} server").problems
    deep = nginxconf.parse("{" * 5000)
    assert deep.problems and nginxconf.servers(deep) == []


@pytest.mark.parametrize(("listens", "expected"), [
    ("", [(80, False)]),
    ("listen 80; listen [::]:80;", [(80, False), (80, False)]),
    ("listen 443 ssl http2; listen [::]:443 ssl;", [(443, True), (443, True)]),
    ("listen 127.0.0.1:8080;", [(8080, False)]),
    ("listen 127.0.0.1;", [(80, False)]),
    ("listen 443; ssl on;", [(443, True)]),
    ("listen 443 quic reuseport;", [(443, True)]),
    ("listen unix:/run/site.sock;", [(None, False)]),
])
def test_listeners(listens, expected):
    found = server(f"server {{ {listens} server_name a.example.net; }}")
    assert [(listener.port, listener.tls) for listener in found.listeners] == expected


@pytest.mark.parametrize(("body", "redirects"), [
    ("return 301 https://webmail.example.net$request_uri;", True),
    ("return https://$host$request_uri;", True),
    ("rewrite ^ https://webmail.example.net$request_uri permanent;", True),
    ("if ($scheme = http) { return 301 https://$host$request_uri; } root /srv;", True),
    ("if ($https != on) { return 308 https://$host$request_uri; }", True),
    ("location ^~ /.well-known/acme-challenge/ { root /var/lib/acme; } "
     "location / { return 301 https://webmail.example.net$request_uri; }", True),
    ("location / { return 301 https://webmail.example.net$request_uri; } location /old { root /srv; }", False),
    ("location / { proxy_pass http://127.0.0.1:8080; }", False),
    ("return 301 http://webmail.example.net$request_uri;", False),
    ("return 200 'hello';", False),
    ("if ($scheme = https) { return 301 https://$host; } root /srv;", False),
    ("root /var/lib/roundcube;", False),
])
def test_redirects_to_https(body, redirects):
    assert server(f"server {{ listen 80; server_name webmail.example.net; {body} }}").redirects_to_https() is redirects


def test_exact_names_and_webmail_applications():
    found = server("server { server_name webmail.example.net *.example.net ~^x$ _ .example.org; "
                   "location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; root /usr/share/roundcube; } }")
    assert found.exact_names() == ["webmail.example.net"]
    assert found.serves_webmail_app()
    assert nginxconf.absolute("certs/a.pem") == "/etc/nginx/certs/a.pem"


def test_our_rendered_webmail_site():
    text = render_nginx_site(server_name="webmail.example.net", role="webmail", root="/var/lib/roundcube/public_html",
                             tls_cert_path="/etc/ssl/isp/webmail.example.net/fullchain.pem",
                             tls_key_path="/etc/ssl/isp/webmail.example.net/privkey.pem",
                             upstream="unix:/run/php/php8.2-fpm.sock", acme_webroot="/var/lib/isp-acme")
    plain, secure = nginxconf.servers(nginxconf.parse(text))
    assert plain.plain and not plain.tls and plain.redirects_to_https()
    assert secure.tls and not secure.plain
    assert secure.certificate == "/etc/ssl/isp/webmail.example.net/fullchain.pem"
    assert secure.serves_webmail_app() and secure.exact_names() == ["webmail.example.net"]


def _expanded(text: str, files: dict[str, str], source: str = "/etc/nginx/nginx.conf") -> nginxconf.Config:
    def load(pattern: str):
        if "*" in pattern:
            return [(p, nginxconf.parse(t)) for p, t in sorted(files.items())
                    if fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/")]
        return [(pattern, nginxconf.parse(files[pattern]))] if pattern in files else None

    return nginxconf.expand(nginxconf.parse(text), source, load)


def test_includes_are_pasted_in_place_with_their_source():
    files = {"/etc/nginx/sites-enabled/webmail": "server {\n    listen 443 ssl;\n    server_name webmail.example.net;\n"
                                                 "    include snippets/webmail-tls.conf;\n}\n",
             "/etc/nginx/snippets/webmail-tls.conf": "ssl_certificate certs/webmail.pem;\n"
                                                     "ssl_certificate_key /etc/ssl/private/webmail.key;\n"}
    config = _expanded("http {\n    include /etc/nginx/conf.d/*.conf;\n    include /etc/nginx/sites-enabled/*;\n}\n",
                       files)
    (site,) = nginxconf.sites(config)
    assert site.source == "/etc/nginx/sites-enabled/webmail" and site.line == 1 and site.unclear == ()
    assert site.certificates == ("/etc/nginx/certs/webmail.pem",) and site.keys == ("/etc/ssl/private/webmail.key",)
    assert site.files == ("/etc/nginx/sites-enabled/webmail", "/etc/nginx/snippets/webmail-tls.conf")


def test_an_include_the_stack_does_not_deliver_makes_the_server_unclear():
    (site,) = nginxconf.sites(_expanded("server { listen 80; server_name webmail.example.net; "
                                        "include /etc/nginx/custom/redirect.conf; }", {}, "/etc/nginx/conf.d/a.conf"))
    assert site.redirects_to_https is None
    assert site.unclear == ("include /etc/nginx/custom/redirect.conf (/etc/nginx/conf.d/a.conf, line 1) names no file "
                            "the stack delivers",)


def test_certificates_are_inherited_from_http_and_all_pairs_kept():
    (site,) = nginxconf.sites(nginxconf.parse(
        "http { ssl_certificate /etc/ssl/rsa.pem; ssl_certificate /etc/ssl/ecdsa.pem; "
        "server { listen 443 ssl; server_name .example.net; } }"))
    assert site.certificates == ("/etc/ssl/rsa.pem", "/etc/ssl/ecdsa.pem")
    assert site.names == ("example.net", "*.example.net")


def test_stream_and_mail_servers_are_not_web_sites():
    config = nginxconf.parse("stream { server { listen 993 ssl; } } mail { server { listen 587; server_name "
                             "webmail.example.net; } } http { server { server_name a.example.net; } }")
    assert [s.names for s in nginxconf.sites(config)] == [("a.example.net",)]


def test_a_certificate_chosen_at_run_time_is_unclear():
    (site,) = nginxconf.sites(nginxconf.parse("server { listen 443 ssl; server_name webmail.example.net; "
                                              "ssl_certificate /etc/ssl/$ssl_server_name.pem; }"))
    assert site.certificates == () and "chosen at run time" in site.unclear[0]
