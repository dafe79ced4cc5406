"""nginx sites: `nginx -t` on the rendered file, then a real nginx in a namespace of our own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.render.nginx import render_nginx_site
from components.render.quoting import RenderValueError
from tests.components.render.conftest import assert_rejected, make_certificate
from tests.conftest import require_tool, run_tool

WWW = dict(server_name="www.example.net", role="www", root="/srv/www", tls_cert_path="/c.pem", tls_key_path="/k.pem")
WEBMAIL = dict(
    server_name="webmail.example.net",
    role="webmail",
    root="/var/lib/roundcube/public_html",
    tls_cert_path="/c.pem",
    tls_key_path="/k.pem",
    upstream="unix:/run/php/php8.2-fpm.sock",
)

# Runs inside the namespace: plain HTTP to 127.0.0.1:80 with a chosen Host header, and HTTPS to
# 127.0.0.1:443 with SNI and certificate verification against the test's own certificate.
HTTP_CLIENT = r"""
import http.client, json, socket, ssl, sys, time
cafile, requests = sys.argv[1], json.loads(sys.argv[2])

class Https(http.client.HTTPSConnection):
    def connect(self):
        raw = socket.create_connection(("127.0.0.1", 443), timeout=5)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)

def fetch(scheme, host, method, path):
    if scheme == "https":
        connection = Https(host, 443, context=ssl.create_default_context(cafile=cafile), timeout=5)
        connection.request(method, path)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", 80, timeout=5)
        connection.request(method, path, headers={"Host": host})
    response = connection.getresponse()
    return {"status": response.status, "location": response.getheader("Location"), "body": response.read().decode()}

deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", 443), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
answers = []
for request in requests:
    try:
        answers.append(fetch(*request))
    except Exception as error:
        answers.append({"error": repr(error)})
print(json.dumps(answers))
"""


def _wrapper(prefix: Path, site: Path) -> Path:
    """A minimal nginx.conf that includes the site, keeping every runtime file under `prefix`."""
    conf = prefix / "nginx.conf"
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"""\
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp_paths}    include {site};
}}
"""
    )
    return conf


def _site(tmp_path: Path, arguments: dict) -> tuple[Path, Path]:
    """Renders the site with a real certificate for its names; returns (nginx.conf, cert path)."""
    names = [arguments["server_name"]] if isinstance(arguments["server_name"], str) else list(arguments["server_name"])
    cert, key = make_certificate(tmp_path, names)
    site = tmp_path / "site.conf"
    site.write_text(render_nginx_site(**{**arguments, "tls_cert_path": str(cert), "tls_key_path": str(key)}))
    return _wrapper(tmp_path, site), cert


def _nginx_test(conf: Path) -> subprocess.CompletedProcess:
    return run_tool(require_tool("nginx"), "-t", "-p", str(conf.parent), "-c", str(conf))


@pytest.mark.parametrize("arguments", [WWW, WEBMAIL, {**WWW, "server_name": ["example.net", "www.example.net"]}])
def test_nginx_accepts_the_site(tmp_path, arguments):
    conf, _ = _site(tmp_path, arguments)
    result = _nginx_test(conf)
    assert result.returncode == 0, result.stderr


def test_server_name_is_exactly_the_fqdns(tmp_path):
    conf, _ = _site(tmp_path, {**WWW, "server_name": ["www.example.net", "example.net"]})
    dump = run_tool(require_tool("nginx"), "-T", "-p", str(tmp_path), "-c", str(conf))
    assert dump.returncode == 0, dump.stderr
    server_names = [
        line.split(None, 1)[1].rstrip(";").split()
        for line in dump.stdout.splitlines()
        if line.strip().startswith("server_name ")
    ]
    assert server_names == [["www.example.net", "example.net"]] * 2
    assert not any(name.startswith(("*", "~", ".")) or name == "_" for names in server_names for name in names)


@pytest.fixture
def serve(tmp_path, netns):
    """Starts nginx on the rendered site inside a fresh namespace; returns a request runner."""
    require_tool("nginx")
    processes: list[subprocess.Popen] = []

    def start(arguments: dict):
        conf, cert = _site(tmp_path, arguments)
        (tmp_path / "webroot").mkdir(exist_ok=True)
        namespace = netns.add()
        processes.append(
            netns.popen(
                namespace, "nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;", stderr=subprocess.PIPE
            )
        )

        def requests(*wanted: tuple[str, str, str, str]) -> list[dict]:
            result = netns.run(namespace, sys.executable, "-c", HTTP_CLIENT, str(cert), json.dumps(wanted), timeout=30)
            return json.loads(result.stdout)

        return requests

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_port_80_only_redirects_to_the_certificate_name(serve, tmp_path):
    webroot = tmp_path / "webroot"
    webroot.mkdir()
    (webroot / "index.html").write_text("hello from www\n")
    (webroot / "page.html").write_text("a page\n")
    requests = serve({**WWW, "server_name": ["www.example.net", "example.net"], "root": str(webroot)})
    answers = requests(
        ("http", "www.example.net", "GET", "/page.html?x=1"),
        ("http", "example.net", "POST", "/"),
        ("http", "attacker.example.org", "GET", "/index.html"),
        ("https", "www.example.net", "GET", "/"),
        ("https", "example.net", "GET", "/page.html"),
    )
    assert answers[0] == {
        "status": 301,
        "location": "https://www.example.net/page.html?x=1",
        "body": answers[0]["body"],
    }
    # Whatever Host the client sends, port 80 serves nothing and points at the certificate's name.
    for answer in answers[1:3]:
        assert answer["status"] == 301 and answer["location"].startswith("https://www.example.net/"), answer
        assert "hello from www" not in answer["body"]
    # HTTPS: the certificate verifies for each configured name and the content is served.
    assert answers[3]["status"] == 200 and answers[3]["body"] == "hello from www\n", answers[3]
    assert answers[4]["status"] == 200 and answers[4]["body"] == "a page\n", answers[4]


def test_webmail_never_serves_roundcube_internals(serve, tmp_path):
    webroot = tmp_path / "webroot"
    (webroot / "config").mkdir(parents=True)
    (webroot / "config" / "config.inc.php").write_text("<?php $config['des_key'] = 'secret';\n")
    (webroot / ".htaccess").write_text("deny\n")
    requests = serve({**WEBMAIL, "root": str(webroot)})
    config, hidden, redirect = requests(
        ("https", "webmail.example.net", "GET", "/config/config.inc.php"),
        ("https", "webmail.example.net", "GET", "/.htaccess"),
        ("http", "webmail.example.net", "GET", "/?_task=mail"),
    )
    assert config["status"] == 403 and "secret" not in config["body"], config
    assert hidden["status"] == 403, hidden
    assert redirect["status"] == 301 and redirect["location"] == "https://webmail.example.net/?_task=mail"


def test_webmail_needs_php_fpm_and_www_takes_none():
    with pytest.raises(ValueError, match="upstream"):
        render_nginx_site(**{**WEBMAIL, "upstream": None})
    with pytest.raises(ValueError, match="upstream"):
        render_nginx_site(**{**WWW, "upstream": "127.0.0.1:9000"})
    assert "fastcgi_pass [::1]:9000;" in render_nginx_site(**{**WEBMAIL, "upstream": "[::1]:9000"})


@pytest.mark.parametrize("parameter", ["server_name", "role", "root", "tls_cert_path", "tls_key_path", "upstream"])
def test_refuses_injection(parameter):
    assert_rejected(render_nginx_site, WEBMAIL, parameter)


def test_refuses_injection_in_name_lists():
    for hostile in (
        ["www.example.net", "x.example.net;\n    location / { return 200; }"],
        ["*.example.net"],
        "example.net _",
    ):
        with pytest.raises(ValueError, match="server_name"):
            render_nginx_site(**{**WWW, "server_name": hostile})


def test_acme_http01_token_is_served_on_port_80_and_nothing_else(serve, tmp_path):
    """HTTP-01: the CA fetches /.well-known/acme-challenge/<token> over plain HTTP; every
    other plain-HTTP request is still only a redirect."""
    acme = tmp_path / "acme"
    (acme / ".well-known" / "acme-challenge").mkdir(parents=True)
    (acme / ".well-known" / "acme-challenge" / "tok-123").write_text("tok-123.thumbprint")
    (acme / "secret.txt").write_text("outside the challenge directory")
    webroot = tmp_path / "roundcube"
    webroot.mkdir()
    requests = serve({**WEBMAIL, "root": str(webroot), "acme_webroot": str(acme)})
    token, missing, outside, other = requests(
        ("http", "webmail.example.net", "GET", "/.well-known/acme-challenge/tok-123"),
        ("http", "webmail.example.net", "GET", "/.well-known/acme-challenge/nope"),
        ("http", "webmail.example.net", "GET", "/secret.txt"),
        ("http", "webmail.example.net", "GET", "/.well-known/other"),
    )
    assert token["status"] == 200 and token["body"] == "tok-123.thumbprint", token
    assert missing["status"] == 404, missing
    assert outside["status"] == 301 and "outside" not in outside["body"], outside
    assert other["status"] == 301 and other["location"] == "https://webmail.example.net/.well-known/other", other


def test_acme_webroot_is_validated():
    assert_rejected(render_nginx_site, {**WEBMAIL, "acme_webroot": "/var/lib/isp-acme"}, "acme_webroot")
    assert "location ^~ /.well-known/acme-challenge/" not in render_nginx_site(**WEBMAIL)


# A hole the renderer fuzz found (tests/fuzz/test_render_fuzz.py), kept as a regression.


def test_php_fpm_socket_path_fits_sun_path(tmp_path):
    """nginx -t refused a longer path ("too long path in the unix domain socket"): 107 bytes at most."""
    longest = "/run/" + "x" * 102
    assert f"fastcgi_pass unix:{longest};" in render_nginx_site(**{**WEBMAIL, "upstream": f"unix:{longest}"})
    with pytest.raises(RenderValueError, match="upstream"):
        render_nginx_site(**{**WEBMAIL, "upstream": f"unix:{longest}y"})
    conf, _ = _site(tmp_path, {**WEBMAIL, "upstream": f"unix:{longest}"})
    result = _nginx_test(conf)
    assert result.returncode == 0, result.stderr
    (tmp_path / "site.conf").write_text((tmp_path / "site.conf").read_text().replace(longest, longest + "y"))
    assert "too long path" in _nginx_test(conf).stderr
