"""Caddyfiles (Caddy v2), as the Caddy docs write them, read into sites with automatic HTTPS."""

from __future__ import annotations

import fnmatch

import pytest
from readers import caddyconf, websites

SOURCE = "/etc/caddy/Caddyfile"


def read(text: str, files: dict[str, str] | None = None) -> list[websites.Site]:
    files = files or {}

    def load(pattern: str):
        if "*" in pattern:
            return [(p, caddyconf.parse(t)) for p, t in sorted(files.items())
                    if fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/")]
        return [(pattern, caddyconf.parse(files[pattern]))] if pattern in files else None

    return caddyconf.sites(caddyconf.expand(caddyconf.parse(text), SOURCE, load), SOURCE)


def test_the_structure_example_of_the_caddyfile_concepts_page():
    # https://caddyserver.com/docs/caddyfile/concepts#structure
    found = read('''{
	email you@yours.com
	servers {
		trusted_proxies static private_ranges
	}
}

(snippet) {
	# this is a reusable snippet
	log {
		output file /var/log/access.log
	}
}

example.com {
	@post {
		method POST
	}
	reverse_proxy @post localhost:9001 localhost:9002 {
		lb_policy first
	}
	file_server /static
	import snippet
}

www.example.com {
	redir https://example.com{uri}
	import snippet
}
''')
    assert [s.names for s in found] == [("example.com",), ("www.example.com",)]
    site = found[0]
    assert site.managed == "acme" and site.redirects_to_https is True
    assert site.listeners == (websites.Listener(443, True), websites.Listener(80, False))
    assert site.what == "site block example.com" and site.line == 15 and site.unclear == ()


def test_webmail_with_automatic_https():
    (site,) = read('''webmail.example.net {
	root * /var/lib/roundcube/public_html
	php_fastcgi unix//run/php/php8.2-fpm.sock
	file_server
}
''')
    assert site.webmail_app and site.managed == "acme" and site.certificates == ()
    assert site.plain and site.redirects_to_https is True


def test_a_lone_site_needs_no_braces():
    (site,) = read("webmail.example.net\n\nroot * /usr/share/roundcube\nfile_server\n")
    assert site.names == ("webmail.example.net",) and site.webmail_app and site.managed == "acme"


@pytest.mark.parametrize(("tls", "managed", "certificates"), [
    ("tls internal", "internal", ()),
    ("tls hostmaster@example.net", "acme", ()),
    ("tls /etc/ssl/webmail/cert.pem /etc/ssl/webmail/key.pem", "", ("/etc/ssl/webmail/cert.pem",)),
    ("tls certs/cert.pem certs/key.pem", "", ("/certs/cert.pem",)),
    ("tls {\n\t\tdns cloudflare {env.CF_API_TOKEN}\n\t}", "acme", ()),
    ("tls {\n\t\tissuer internal\n\t}", "internal", ()),
    ("", "acme", ()),
])
def test_tls_forms(tls, managed, certificates):
    (site,) = read(f"webmail.example.net {{\n\t{tls}\n\troot * /srv\n}}\n")
    assert (site.managed, site.certificates) == (managed, certificates)


def test_tls_load_is_not_understood():
    (site,) = read("webmail.example.net {\n\ttls {\n\t\tload /etc/caddy/certs\n\t}\n}\n")
    assert site.unclear and "load" in site.unclear[0]


def test_local_names_get_the_internal_ca():
    assert [s.managed for s in read("localhost {\n}\n192.168.1.10 {\n}\nintranet {\n}\n")] == ["internal"] * 3
    (site,) = read("{\n\tlocal_certs\n}\nwebmail.example.net {\n}\n")
    assert site.managed == "internal"


def test_http_addresses_are_plain_and_take_the_name_from_the_automatic_redirect():
    plain, secure = read('''http://webmail.example.net {
	root * /usr/share/roundcube
}
webmail.example.net {
	root * /usr/share/roundcube
}
''')
    assert plain.listeners == (websites.Listener(80, False),) and plain.redirects_to_https is False
    assert secure.listeners == (websites.Listener(443, True),)  # the explicit http:// site takes port 80
    (redirecting,) = read("http://webmail.example.net {\n\tredir https://{host}{uri} permanent\n}\n")
    assert redirecting.redirects_to_https is True
    (partial,) = read("webmail.example.net:80 {\n\tredir /old https://webmail.example.net/\n}\n")
    assert partial.redirects_to_https is False and partial.listeners == (websites.Listener(80, False),)
    (handled,) = read("http://webmail.example.net {\n\thandle /.well-known/acme-challenge/* {\n\t\troot * /srv\n"
                      "\t}\n\thandle {\n\t\tredir https://{host}{uri}\n\t}\n}\n")
    assert handled.redirects_to_https is True


def test_global_options_change_ports_and_redirects():
    (site,) = read("{\n\tauto_https disable_redirects\n}\nwebmail.example.net {\n}\n")
    assert site.listeners == (websites.Listener(443, True),) and site.managed == "acme"
    (site,) = read("{\n\thttp_port 8080\n\thttps_port 8443\n}\nwebmail.example.net {\n}\n")
    assert site.listeners == (websites.Listener(8443, True), websites.Listener(8080, False))
    (site,) = read("{\n\tauto_https off\n}\nwebmail.example.net {\n}\n")
    assert site.managed == "" and site.unclear and site.listeners == (websites.Listener(443, True),)


def test_catch_all_and_wildcard_addresses():
    default, wildcard = read(":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n*.example.net {\n}\n")
    assert default.names == () and default.listeners == (websites.Listener(80, False),)
    assert wildcard.names == ("*.example.net",) and wildcard.exact_names == ()


def test_several_addresses_on_one_line_and_continued():
    (site,) = read("webmail.example.net, mail.example.net,\n    post.example.net {\n}\n")
    assert site.names == ("webmail.example.net", "mail.example.net", "post.example.net")


def test_snippet_arguments_and_file_imports():
    files = {"/etc/caddy/sites/webmail.caddy": "webmail.example.net {\n\timport app roundcube\n}\n",
             "/etc/caddy/sites/www.caddy": "www.example.net {\n\troot * /var/www\n}\n"}
    found = read('''(app) {
	root * /usr/share/{args[0]}
}
import sites/*.caddy
import missing.caddy
''', files)
    assert [s.names for s in found] == [("webmail.example.net",), ("www.example.net",)]
    assert found[0].webmail_app and found[0].source == "/etc/caddy/sites/webmail.caddy"
    assert all("import missing.caddy" in s.unclear[0] for s in found)


def test_environment_placeholders():
    (site,) = read("{$DOMAIN:webmail.example.net} {\n}\n")
    assert site.names == ("webmail.example.net",)
    (site,) = read("{$DOMAIN} {\n\troot * /usr/share/roundcube\n}\n")
    assert site.names == () and site.unclear_names == ("{$DOMAIN}",) and "{$DOMAIN}" in site.unclear[0]


def test_quotes_comments_and_backticks():
    config = caddyconf.parse('webmail.example.net { # a comment\n\theader X-A "a b}"\n\trespond `x {\n y`\n}\n')
    (node,) = caddyconf.site_blocks(config)
    assert [n.words for n in node.block] == [("header", "X-A", "a b}"), ("respond", "x {\n y")]
    assert config.problems == ()


@pytest.mark.parametrize("text", ["webmail.example.net {\n", "}\n}\n", "{" * 3000, "import", "(x) {\nimport x\n}\n"
                                  "a.example.net {\nimport x\n}\n", "\x00 {\n}", '"unterminated'])
def test_hostile_input_never_raises(text):
    caddyconf.sites(caddyconf.expand(caddyconf.parse(text), SOURCE, lambda p: None), SOURCE)
