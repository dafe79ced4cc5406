"""Apache httpd 2.4 configs, as the Apache docs and certbot write them, read into sites."""

from __future__ import annotations

import fnmatch

import pytest
from readers import apacheconf, websites

SOURCE = "/etc/apache2/sites-enabled/site.conf"


def read(text: str, files: dict[str, str] | None = None, source: str = SOURCE, main: bool = False):
    files = files or {}

    def load(pattern: str):
        if any(c in pattern for c in "*?["):  # glob(3): a wildcard does not cross a slash
            return [(p, apacheconf.parse(t)) for p, t in sorted(files.items())
                    if fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/")]
        return [(pattern, apacheconf.parse(files[pattern]))] if pattern in files else None

    return apacheconf.sites(apacheconf.expand(apacheconf.parse(text), source, load), source, main=main)


def one(text: str, **kwargs) -> websites.Site:
    (site,) = read(text, **kwargs)
    return site


def test_name_based_virtual_hosts_from_the_docs():
    # https://httpd.apache.org/docs/2.4/vhosts/name-based.html
    first, second = read('''<VirtualHost *:80>
    # This first-listed virtual host is also the default for *:80
    ServerName www.example.com
    ServerAlias example.com
    DocumentRoot "/www/domain"
</VirtualHost>

<VirtualHost *:80>
    ServerName other.example.com
    DocumentRoot "/www/otherdomain"
</VirtualHost>
''')
    assert first.names == ("www.example.com", "example.com") and first.what == "<VirtualHost *:80>"
    assert first.listeners == (websites.Listener(80, False),) and first.line == 1
    assert second.names == ("other.example.com",) and not second.webmail_app


def test_ssl_virtual_host_from_the_mod_ssl_howto():
    site = one('''<VirtualHost *:443>
    ServerName www.example.com
    SSLEngine on
    SSLCertificateFile "/path/to/www.example.com.cert"
    SSLCertificateKeyFile "/path/to/www.example.com.key"
</VirtualHost>
''')
    assert site.listeners == (websites.Listener(443, True),) and site.tls
    assert site.certificates == ("/path/to/www.example.com.cert",)
    assert site.keys == ("/path/to/www.example.com.key",)


def test_port_443_without_sslengine_is_plain_http():
    site = one("<VirtualHost *:443>\nServerName webmail.example.net\nSSLCertificateFile /etc/ssl/a.pem\n"
               "</VirtualHost>\n")
    assert site.listeners == (websites.Listener(443, False),)


def test_certbot_le_ssl_file_with_its_options_include_resolved_and_missing():
    text = '''<IfModule mod_ssl.c>
<VirtualHost *:443>
    ServerName webmail.example.net
    DocumentRoot /var/lib/roundcube/public_html
Include /etc/letsencrypt/options-ssl-apache.conf
SSLCertificateFile /etc/letsencrypt/live/webmail.example.net/fullchain.pem
SSLCertificateKeyFile /etc/letsencrypt/live/webmail.example.net/privkey.pem
</VirtualHost>
</IfModule>
'''
    resolved = one(text, files={"/etc/letsencrypt/options-ssl-apache.conf": "SSLEngine on\n"})
    assert resolved.listeners == (websites.Listener(443, True),) and resolved.unclear == ()
    assert resolved.webmail_app
    assert resolved.certificates == ("/etc/letsencrypt/live/webmail.example.net/fullchain.pem",)
    missing = one(text)
    assert missing.listeners == (websites.Listener(443, None),)  # the include may turn TLS on
    assert missing.unclear == ("Include /etc/letsencrypt/options-ssl-apache.conf "
                               "(/etc/apache2/sites-enabled/site.conf, line 5) names no file the stack delivers",)


@pytest.mark.parametrize(("body", "redirects"), [
    ("Redirect / https://secure.example.com/", True),
    ('Redirect permanent "/" "https://webmail.example.net/"', True),
    ("Redirect 301 / https://webmail.example.net/", True),
    ("RedirectPermanent / https://webmail.example.net/", True),
    ("RedirectMatch 301 ^/(.*)$ https://webmail.example.net/$1", True),
    ("RedirectMatch ^/roundcube https://webmail.example.net/", False),
    ("Redirect /webmail https://webmail.example.net/", False),
    ("Redirect / http://webmail.example.net/", False),
    # certbot --apache writes this
    ("RewriteEngine on\nRewriteCond %{SERVER_NAME} =webmail.example.net\n"
     "RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]", True),
    # https://httpd.apache.org/docs/2.4/rewrite/avoid.html
    ('RewriteEngine On\nRewriteRule "^/?(.*)" "https://%{SERVER_NAME}/$1" [R,L]', True),
    ("RewriteEngine On\nRewriteCond %{HTTPS} off\nRewriteRule (.*) https://%{HTTP_HOST}%{REQUEST_URI}", True),
    ("RewriteEngine On\nRewriteCond %{HTTPS} !=on\nRewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/\n"
     "RewriteRule ^/?(.*) https://%{SERVER_NAME}/$1 [R=301,L]", True),
    ("RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [R]", False),  # no RewriteEngine on
    ("RewriteEngine On\nRewriteCond %{REMOTE_ADDR} !^10\\.\nRewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [R]",
     None),  # a condition the reader does not evaluate
    ("RewriteEngine On\nRewriteRule ^/(.*) https://backend.example.net/$1 [P]", False),
    ("<If \"%{HTTPS} != 'on'\">\n  Redirect permanent https://webmail.example.net/\n</If>", True),
    ('<Location "/">\n  Redirect permanent "https://webmail.example.net/"\n</Location>', True),
    ('<Location "/old">\n  Redirect permanent "https://webmail.example.net/"\n</Location>', False),
    ("DocumentRoot /var/lib/roundcube/public_html", False),
])
def test_plain_http_redirects(body, redirects):
    site = one(f"<VirtualHost *:80>\nServerName webmail.example.net\n{body}\n</VirtualHost>\n")
    assert site.redirects_to_https is redirects


def test_define_variables_and_ifdefine():
    # https://httpd.apache.org/docs/2.4/mod/core.html#define
    site = one('''<IfDefine TEST>
  Define servername test.example.com
</IfDefine>
<IfDefine !TEST>
  Define servername webmail.example.net
  Define SSL
</IfDefine>
<IfDefine SSL>
<VirtualHost *:443>
  ServerName ${servername}
  SSLEngine on
  SSLCertificateFile /etc/ssl/${servername}.pem
  ErrorLog ${APACHE_LOG_DIR}/error.log
</VirtualHost>
</IfDefine>
''')
    assert site.names == ("webmail.example.net",) and site.certificates == ("/etc/ssl/webmail.example.net.pem",)


def test_macro_and_use_from_the_mod_macro_docs():
    first, second = read('''<Macro VHost $name $domain>
<VirtualHost *:80>
    ServerName $domain
    ServerAlias www.$domain
    DocumentRoot "/var/www/vhosts/$name"
</VirtualHost>
</Macro>
Use VHost example example.com
Use VHost webmail webmail.example.net
UndefMacro VHost
''')
    assert first.names == ("example.com", "www.example.com")
    assert second.names == ("webmail.example.net", "www.webmail.example.net")


def test_continuations_quotes_comments_and_wildcards():
    site = one('''# a comment line
<VirtualHost 192.0.2.1:443 [2001:db8::a00:20ff:fea7:ccea]:443>
    ServerName https://WebMail.Example.NET:443
    ServerAlias *.example.net mail?.example.net "quoted.example.net"
    SSLEngine on
    SSLCertificateFile \\
        /etc/ssl/certs/webmail.pem
    SSLCertificateChainFile certs/chain.pem
</VirtualHost>
''')
    assert site.names == ("webmail.example.net", "*.example.net", "quoted.example.net")
    assert site.exact_names == ("webmail.example.net", "quoted.example.net")
    assert site.unclear_names == ("mail?.example.net",)
    assert site.listeners == (websites.Listener(443, True),)
    assert site.certificates == ("/etc/ssl/certs/webmail.pem",) and site.chains == ("/etc/apache2/certs/chain.pem",)


def test_vhost_without_port_takes_the_listen_ports_and_inherits_the_main_server():
    site = one('''Listen 80
Listen 8443
ServerName webmail.example.net
SSLCertificateFile /etc/ssl/main.pem
<VirtualHost *>
    SSLEngine optional
</VirtualHost>
''')
    assert site.names == ("webmail.example.net",) and site.certificates == ("/etc/ssl/main.pem",)
    assert site.listeners == (websites.Listener(80, None), websites.Listener(8443, None))


def test_includes_relative_to_server_root_with_globs_in_order():
    files = {"/etc/apache2/sites-enabled/a.conf": "<VirtualHost *:80>\nServerName a.example.net\n</VirtualHost>\n",
             "/etc/apache2/sites-enabled/b.conf": "<VirtualHost *:80>\nServerName b.example.net\n</VirtualHost>\n",
             "/etc/apache2/sites-enabled/sub/c.conf": "<VirtualHost *:80>\nServerName c.example.net\n"
                                                     "</VirtualHost>\n",
             "/etc/apache2/ssl.conf": "SSLEngine on\nSSLCertificateFile ssl/w.pem\n"}
    found = read("IncludeOptional sites-enabled/*.conf\nIncludeOptional conf-enabled/*.conf\n"
                 "<VirtualHost *:443>\nServerName w.example.net\nInclude ssl.conf\n</VirtualHost>\n", files=files,
                 source="/etc/apache2/apache2.conf")
    assert [s.names for s in found] == [("a.example.net",), ("b.example.net",), ("w.example.net",)]
    assert [s.source for s in found[:2]] == ["/etc/apache2/sites-enabled/a.conf", "/etc/apache2/sites-enabled/b.conf"]
    assert found[2].certificates == ("/etc/apache2/ssl/w.pem",) and found[2].tls
    assert found[2].files == ("/etc/apache2/apache2.conf", "/etc/apache2/ssl.conf")


def test_an_include_of_itself_is_a_problem_not_a_loop():
    text = f"Include {SOURCE}\n<VirtualHost *:80>\nServerName a.example.net\n</VirtualHost>\n"
    config = apacheconf.expand(apacheconf.parse(text), SOURCE, lambda p: [(p, apacheconf.parse(text))])
    assert any("includes itself" in p for p in config.problems)
    assert len(apacheconf.sites(config, SOURCE, main=False)) == 1


def test_ifmodule_negation_is_taken_as_false():
    site = one("<IfModule !mod_ssl.c>\nListen 8080\n</IfModule>\n<IfModule ssl_module>\nListen 443\n<VirtualHost *>\n"
               "ServerName a.example.net\nSSLEngine on\n</VirtualHost>\n</IfModule>\n")
    assert site.listeners == (websites.Listener(443, True),)


def test_main_server_serves_where_no_vhost_takes_the_port():
    (site,) = read("Listen 443\nServerName webmail.example.net\nSSLEngine on\nSSLCertificateFile /etc/ssl/w.pem\n"
                   "DocumentRoot /usr/share/roundcube\n", main=True)
    assert site.what == "main server" and site.listeners == (websites.Listener(443, True),) and site.webmail_app
    assert read("Listen 80\n<VirtualHost *:80>\nServerName a.example.net\n</VirtualHost>\n", main=True)[-1].what != (
        "main server")


@pytest.mark.parametrize("text", ["<VirtualHost *:80>\nServerName a.example.net\n", "</VirtualHost>\n",
                                  "<VirtualHost *:80\nServerName x\n</VirtualHost>", "<>\n", "<If>" * 3000,
                                  "\x00\x01 <", "Use Undefined a b\n", "\\"])
def test_hostile_input_never_raises(text):
    config = apacheconf.parse(text)
    apacheconf.sites(apacheconf.expand(config, SOURCE, lambda p: None), SOURCE)
    assert text.strip() in ("", "Use Undefined a b", "\\", "\x00\x01 <") or config.problems


def test_mod_md_obtains_the_certificate_itself():
    # https://httpd.apache.org/docs/2.4/mod/mod_md.html
    site = one("MDomain webmail.example.net\n<VirtualHost *:443>\n  ServerName webmail.example.net\n"
               "  SSLEngine on\n</VirtualHost>\n")
    assert site.managed == "acme" and site.certificates == ()
    other = one("MDomain www.example.net\n<VirtualHost *:443>\n  ServerName webmail.example.net\n  SSLEngine on\n"
                "  SSLCertificateFile /etc/ssl/w.pem\n</VirtualHost>\n")
    assert other.managed == "" and other.certificates == ("/etc/ssl/w.pem",)


def test_mod_gnutls_is_tls_too():
    site = one("<VirtualHost *:443>\n  ServerName webmail.example.net\n  GnuTLSEnable on\n"
               "  GnuTLSCertificateFile /etc/ssl/webmail.pem\n  GnuTLSKeyFile /etc/ssl/webmail.key\n</VirtualHost>\n")
    assert site.listeners == (websites.Listener(443, True),) and site.certificates == ("/etc/ssl/webmail.pem",)
