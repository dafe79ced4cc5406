"""lighttpd 1.4 configs, as the lighttpd docs and Debian write them, read into sites."""

from __future__ import annotations

import fnmatch

import pytest
from readers import lighttpdconf, websites

SOURCE = "/etc/lighttpd/lighttpd.conf"
PLAIN, TLS = websites.Listener(80, False), websites.Listener(443, True)


def read(text: str, files: dict[str, str] | None = None) -> list[websites.Site]:
    files = files or {}

    def load(pattern: str):
        if "*" in pattern:
            return [(p, lighttpdconf.parse(t)) for p, t in sorted(files.items())
                    if fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/")]
        return [(pattern, lighttpdconf.parse(files[pattern]))] if pattern in files else None

    return lighttpdconf.sites(lighttpdconf.expand(lighttpdconf.parse(text), SOURCE, load), SOURCE)


# https://redmine.lighttpd.net/projects/lighttpd/wiki/Docs_SSL
SSL = '''server.modules += ( "mod_openssl" )
$SERVER["socket"] == ":443" {
    ssl.engine  = "enable"
    ssl.pemfile = "/etc/lighttpd/certs/lighttpd.pem"
    ssl.privkey = "/etc/lighttpd/certs/lighttpd.key"
}
'''
REDIRECT = '''$HTTP["scheme"] == "http" {
    url.redirect = ("" => "https://${url.authority}${url.path}${qsa}")
    url.redirect-code = 308
}
'''
WEBMAIL = '''$HTTP["host"] == "webmail.example.net" {
    server.document-root = "/var/lib/roundcube/public_html"
}
'''


def test_the_docs_ssl_setup_with_the_scheme_redirect():
    (site,) = read(SSL + REDIRECT + WEBMAIL)
    assert site.names == ("webmail.example.net",) and site.webmail_app
    assert site.listeners == (PLAIN, TLS) and site.redirects_to_https is True
    assert site.certificates == ("/etc/lighttpd/certs/lighttpd.pem",)
    assert site.keys == ("/etc/lighttpd/certs/lighttpd.key",)
    assert site.what == '$HTTP["host"] == "webmail.example.net"' and site.line == 11


def test_without_a_redirect_plain_http_is_served():
    (site,) = read(SSL + WEBMAIL)
    assert site.plain == (PLAIN,) and site.redirects_to_https is False


def test_sni_certificate_in_the_host_block_wins():
    (site,) = read('''$SERVER["socket"] == ":443" {
  ssl.engine = "enable"
  ssl.pemfile = "/etc/lighttpd/ssl/default.pem"
  $HTTP["host"] == "webmail.example.net" {
    ssl.pemfile = "/etc/lighttpd/ssl/webmail.pem"
  }
}
''')
    assert site.listeners == (TLS,) and site.certificates == ("/etc/lighttpd/ssl/webmail.pem",)
    (site,) = read(SSL + '$HTTP["host"] == "webmail.example.net" {\n  ssl.pemfile = "ssl/webmail.pem"\n}\n')
    assert site.certificates == ("/etc/lighttpd/ssl/webmail.pem",)


def test_the_older_socket_80_redirect_idiom():
    (site,) = read(SSL + '''$SERVER["socket"] == ":80" {
  $HTTP["host"] =~ "(.*)" {
    url.redirect = ( "^/(.*)" => "https://%1/$1" )
  }
}
''' + WEBMAIL)
    assert site.redirects_to_https is True


def test_a_redirect_in_the_host_block_only_for_some_paths():
    (site,) = read(SSL + '$HTTP["host"] == "webmail.example.net" {\n'
                   '  url.redirect = ( "^/old/(.*)" => "https://webmail.example.net/$1" )\n}\n')
    assert site.redirects_to_https is False
    (site,) = read(SSL + '$HTTP["host"] == "webmail.example.net" {\n  $HTTP["scheme"] == "http" {\n'
                   '    url.redirect = ( "^/(.*)" => "https://webmail.example.net/$1" )\n  }\n}\n')
    assert site.redirects_to_https is True


@pytest.mark.parametrize(("condition", "names", "unclear"), [
    ('== "webmail.example.net"', ("webmail.example.net",), ()),
    ('=~ "^webmail\\.example\\.net$"', ("webmail.example.net",), ()),
    ('=$ ".example.net"', ("*.example.net",), ()),
    ('=~ "^(www\\.)?example\\.net$"', (), ("^(www\\.)?example\\.net$",)),
    ('!= "www.example.net"', (), ("www.example.net",)),
])
def test_host_conditions(condition, names, unclear):
    (site,) = read(f'$HTTP["host"] {condition} {{\n  server.document-root = "/srv"\n}}\n')
    assert site.names == names and site.unclear_names == unclear


def test_else_chains_variables_and_global_tls():
    found = read('''var.basedir = "/var/www"
server.port = 443
ssl.engine = "enable"
ssl.pemfile = "/etc/lighttpd/" + "wild.pem"
$HTTP["host"] == "www.example.net" {
  server.document-root = var.basedir + "/www"
} else $HTTP["host"] == "webmail.example.net" {
  alias.url += ( "/" => "/usr/share/roundcube/" )
} else {
  server.document-root = var.basedir + "/default"
}
''')
    assert [s.names for s in found] == [("www.example.net",), ("webmail.example.net",)]
    assert found[1].webmail_app and not found[0].webmail_app
    assert found[1].listeners == (TLS,) and found[1].certificates == ("/etc/lighttpd/wild.pem",)


def test_includes_relative_to_the_main_config_and_debian_helpers():
    files = {"/etc/lighttpd/conf-enabled/10-ssl.conf": SSL, "/etc/lighttpd/conf-enabled/90-webmail.conf": WEBMAIL}
    (site,) = read('server.port = 80\ninclude_shell "/usr/share/lighttpd/use-ipv6.pl " + server.port\n'
                   'include_shell "/usr/share/lighttpd/create-mime.conf.pl"\n'
                   'include_shell "/usr/share/lighttpd/include-conf-enabled.pl"\n', files)
    assert site.source == "/etc/lighttpd/conf-enabled/90-webmail.conf" and site.unclear == ()
    assert site.certificates == ("/etc/lighttpd/certs/lighttpd.pem",)
    (site,) = read('include "conf-enabled/*.conf"\n', files)
    assert site.listeners == (PLAIN, TLS)


def test_an_unknown_include_shell_or_missing_include_is_not_understood():
    (site,) = read(SSL + WEBMAIL + 'include_shell "/usr/local/bin/make-vhosts"\n')
    assert site.unclear == ('include_shell "/usr/local/bin/make-vhosts" (/etc/lighttpd/lighttpd.conf, line 10) runs a '
                            'command whose output only the host knows',)
    assert site.redirects_to_https is None
    (site,) = read(SSL + WEBMAIL + 'include "/etc/lighttpd/extra.conf"\n')
    assert "names no file the stack delivers" in site.unclear[0]


def test_debian_style_comments_and_trailing_commas():
    config = lighttpdconf.parse('server.http-parseopts = (\n  "header-strict" => "enable",# default\n'
                                '  "host-strict" => "enable",\n)\nserver.modules = ( "mod_access", )\n')
    assert config.problems == ()
    assert lighttpdconf.value(config.statements[0].value) == [("header-strict", "enable"), ("host-strict", "enable")]


@pytest.mark.parametrize("text", ['$HTTP["host"] == "a" {\n', "}}}\n", '$HTTP["host"] == "a" {' * 200, "= = =",
                                  'include_shell\n', '$HTTP["host"] ?? "a" { }', "\x00", 'x = ("a" => '])
def test_hostile_input_never_raises(text):
    config = lighttpdconf.parse(text)
    lighttpdconf.sites(lighttpdconf.expand(config, SOURCE, lambda p: None), SOURCE)
    assert config.problems
