"""Each machine's web servers and sites: main configs, includes across files, Debian's enabled layout."""

from __future__ import annotations

from hostview import hosts, webview
from pack_builders import SECRET, SIG, copy_file, resource, view_of
from readers import websites

HOST = "web1.example.net"


def command(create: str, host: str = HOST, name: str = "web-setup"):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "root", "privateKey": "k"}}, "create": create}
    return resource("command:remote:Command", name, props)


def web_of(*resources, host: str = HOST) -> webview.WebView:
    view = view_of(*resources)
    return webview.of(view, hosts.host_of(view, host))


def summary(web: webview.WebView) -> list[tuple[str, tuple[str, ...], str]]:
    return [(s.site.dialect, s.site.names, s.doubt) for s in web.sites]


VHOST = "<VirtualHost *:443>\n  ServerName webmail.example.net\n  SSLEngine on\n</VirtualHost>\n"


def test_nginx_sites_reached_from_debians_default_main_config():
    web = web_of(copy_file(HOST, "/etc/nginx/sites-enabled/webmail", "server { server_name webmail.example.net; }"),
                 copy_file(HOST, "/etc/nginx/conf.d/www.conf", "server { server_name www.example.net; }"))
    assert summary(web) == [("nginx", ("www.example.net",), ""), ("nginx", ("webmail.example.net",), "")]
    assert [(s.dialect, [f.path for f in s.files]) for s in web.servers] == [
        ("nginx", ["/etc/nginx/sites-enabled/webmail", "/etc/nginx/conf.d/www.conf"])]


def test_a_delivered_nginx_conf_replaces_the_default_and_its_includes_are_followed():
    main = "events {}\nhttp {\n    include /etc/nginx/vhosts/*.conf;\n}\n"
    web = web_of(copy_file(HOST, "/etc/nginx/nginx.conf", main),
                 copy_file(HOST, "/etc/nginx/vhosts/webmail.conf", "server { server_name webmail.example.net; "
                                                                   "include snippets/tls.conf; }"),
                 copy_file(HOST, "/etc/nginx/snippets/tls.conf", "listen 443 ssl; ssl_certificate /etc/ssl/w.pem;"),
                 copy_file(HOST, "/etc/nginx/conf.d/old.conf", "server { server_name old.example.net; }"))
    (served, old) = web.sites
    assert served.site.certificates == ("/etc/ssl/w.pem",) and served.site.tls and served.doubt == ""
    assert served.label == f"/etc/nginx/vhosts/webmail.conf on {HOST}"
    # conf.d is not included by this nginx.conf: judged as if served, and said so.
    assert old.doubt == "not included by the nginx main config the stack gives: judged as if served"


def test_sites_available_needs_a_link_or_a2ensite():
    site = copy_file(HOST, "/etc/apache2/sites-available/webmail.conf", VHOST)
    assert summary(web_of(site)) == [("apache", ("webmail.example.net",),
                                      "delivered to /etc/apache2/sites-available with no a2ensite seen: judged as if "
                                      "enabled")]
    assert summary(web_of(site, command("a2ensite webmail && systemctl reload apache2"))) == [
        ("apache", ("webmail.example.net",), "")]
    nginx = copy_file(HOST, "/etc/nginx/sites-available/webmail", "server { server_name webmail.example.net; }")
    linked = command("ln -sf /etc/nginx/sites-available/webmail /etc/nginx/sites-enabled/\nnginx -s reload\n")
    assert summary(web_of(nginx, linked)) == [("nginx", ("webmail.example.net",), "")]
    assert summary(web_of(nginx))[0][2] == ("delivered to /etc/nginx/sites-available with no ln -s seen: judged as "
                                            "if enabled")


def test_debian_apache_loads_only_conf_files_from_sites_enabled():
    web = web_of(copy_file(HOST, "/etc/apache2/sites-enabled/webmail", VHOST))
    assert summary(web)[0][2] == "not included by the apache main config the stack gives: judged as if served"


def test_certbots_apache_options_file_is_known_without_being_delivered():
    text = VHOST.replace("  SSLEngine on\n", "  Include /etc/letsencrypt/options-ssl-apache.conf\n")
    (served,) = web_of(copy_file(HOST, "/etc/apache2/sites-enabled/webmail-le-ssl.conf", text)).sites
    assert served.site.listeners == (websites.Listener(443, True),) and served.site.unclear == ()


def test_rhel_layout_under_etc_httpd():
    (served,) = web_of(copy_file(HOST, "/etc/httpd/conf.d/webmail.conf", VHOST.replace(
        "SSLEngine on", "SSLEngine on\n  SSLCertificateFile certs/w.pem"))).sites
    assert served.doubt == "" and served.site.certificates == ("/etc/httpd/certs/w.pem",)


def test_caddy_imports_and_lighttpd_conf_enabled():
    web = web_of(copy_file(HOST, "/etc/caddy/Caddyfile", "import sites/*\n"),
                 copy_file(HOST, "/etc/caddy/sites/webmail",
                           "webmail.example.net {\n\troot * /usr/share/roundcube\n}\n"))
    (served,) = web.sites
    assert served.site.managed == "acme" and served.label == f"/etc/caddy/sites/webmail on {HOST}"
    web = web_of(copy_file(HOST, "/etc/lighttpd/conf-available/90-webmail.conf",
                           '$HTTP["host"] == "webmail.example.net" {\n  server.document-root = "/srv"\n}\n'),
                 command("lighty-enable-mod webmail\nservice lighttpd force-reload\n"))
    assert summary(web) == [("lighttpd", ("webmail.example.net",), "")]


def test_a_snippet_only_an_unreached_site_includes_is_judged_through_that_site():
    web = web_of(copy_file(HOST, "/etc/nginx/sites-available/webmail", "server { server_name webmail.example.net; "
                                                                       "include /etc/nginx/webmail/tls.conf; }"),
                 copy_file(HOST, "/etc/nginx/webmail/tls.conf", "listen 443 ssl;\nssl_certificate /etc/ssl/w.pem;\n"))
    (served,) = web.sites
    assert served.site.certificates == ("/etc/ssl/w.pem",) and served.doubt.startswith("delivered to")


def test_web_servers_installed_or_started_by_commands():
    web = web_of(command("apt-get update\napt-get install -y apache2 libapache2-mod-php\n"),
                 command("systemctl enable --now caddy", name="caddy"))
    assert [(s.dialect, s.files, s.commands) for s in web.servers] == [
        ("apache", (), (f"installs apache2 (command web-setup on {HOST})",)),
        ("caddy", (), (f"starts caddy (command caddy on {HOST})",))]
    assert web.sites == ()
    # A package named in a file the command writes is not an installation.
    web = web_of(command("cat > /root/notes.txt <<'EOF'\napt-get install -y nginx\nEOF\n"))
    assert web.servers == ()


def test_a_certificate_is_found_through_a_link_the_host_makes():
    web = web_of(copy_file(HOST, "/etc/ssl/webmail/fullchain.pem", "PEM"),
                 command("ln -s /etc/ssl/webmail/fullchain.pem /etc/nginx/webmail.pem"))
    assert web.file("/etc/nginx/webmail.pem").path == "/etc/ssl/webmail/fullchain.pem"
    assert web.file("/etc/nginx/other.pem") is None


def test_the_view_is_memoised_per_machine():
    view = view_of(copy_file(HOST, "/etc/nginx/conf.d/a.conf", "server { server_name a.example.net; }"))
    (machine,) = hosts.of(view)
    assert webview.of(view, machine) is webview.of(view, machine)
