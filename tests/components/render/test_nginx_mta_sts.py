"""The `mta-sts` nginx site (RFC 8461 §3.3): `nginx -t`, then a real nginx in a namespace of our own.

What a sending MTA does, per §3.3: GET https://mta-sts.<domain>/.well-known/mta-sts.txt with SNI
mta-sts.<domain>, verifying the certificate for that name, following no redirect, and accepting
only a 200 whose media type is text/plain.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.render.nginx import render_nginx_site
from tests.components.render.conftest import assert_rejected, make_certificate
from tests.conftest import require_tool, run_tool

POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.3, written out here rather than imported
# RFC 8461 §3.2's example, for a domain with two MX hosts.
POLICY_A = "version: STSv1\nmode: enforce\nmx: mail.example.net\nmx: mx2.example.net\nmax_age: 604800\n"
POLICY_B = "version: STSv1\nmode: testing\nmx: mail.example.net\nmax_age: 86400\n"
SITE = dict(
    server_name="mta-sts.example.net", role="mta-sts", root="/var/www/mta-sts/example.net",
    tls_cert_path="/c.pem", tls_key_path="/k.pem",
)

# Runs inside the namespace: HTTPS to 127.0.0.1:443 with SNI = the Host and verification against the
# bundle of the test's certificates, redirects never followed; plain HTTP to 127.0.0.1:80.
CLIENT = r"""
import http.client, json, socket, ssl, sys, time
cafile, requests = sys.argv[1], json.loads(sys.argv[2])

class Https(http.client.HTTPSConnection):
    def connect(self):
        raw = socket.create_connection(("127.0.0.1", 443), timeout=5)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)

def fetch(scheme, host, path):
    if scheme == "https":
        connection = Https(host, 443, context=ssl.create_default_context(cafile=cafile), timeout=5)
        connection.request("GET", path)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", 80, timeout=5)
        connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    return {"status": response.status, "type": response.getheader("Content-Type"),
            "location": response.getheader("Location"), "body": response.read().decode()}

deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", 443), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
print(json.dumps([fetch(*request) for request in requests]))
"""


def _domain_root(tmp_path: Path, domain: str, policy: str) -> Path:
    """A document root as the delivery leaves it: the policy, its staging directory beside it, and
    a stray file at the root that must never be served."""
    root = tmp_path / "www" / domain
    (root / ".well-known" / "isp-staging").mkdir(parents=True)
    (root / ".well-known" / "mta-sts.txt").write_text(policy)
    (root / ".well-known" / "isp-staging" / "mta-sts.txt").write_text("staged: not yet live\n")
    (root / "index.html").write_text("not the policy\n")
    return root


def _config(tmp_path: Path, policies: dict[str, str], acme_webroot: str | None = None) -> tuple[Path, Path]:
    """nginx.conf with one mta-sts site per domain, each with its own certificate; returns (conf, CA bundle).

    The http block sets `default_type application/octet-stream` and no types map, as an nginx.conf
    that does not include mime.types does: text/plain must come from the site itself."""
    includes, bundle = [], []
    for domain, policy in policies.items():
        name = f"mta-sts.{domain}"
        directory = tmp_path / name
        directory.mkdir()
        cert, key = make_certificate(directory, [name])
        bundle.append(cert.read_text())
        site = directory / "site.conf"
        site.write_text(render_nginx_site(**{
            **SITE, "server_name": name, "root": str(_domain_root(tmp_path, domain, policy)),
            "tls_cert_path": str(cert), "tls_key_path": str(key), "acme_webroot": acme_webroot,
        }))
        includes.append(f"    include {site};\n")
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""\
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type application/octet-stream;
{temp_paths}{"".join(includes)}}}
""")
    cafile = tmp_path / "ca.pem"
    cafile.write_text("".join(bundle))
    return conf, cafile


def test_nginx_accepts_two_mta_sts_sites(tmp_path):
    """One site per hosted mail domain on one host: their ssl_session_cache zones may coexist."""
    acme = tmp_path / "acme"
    acme.mkdir()
    conf, _ = _config(tmp_path, {"example.net": POLICY_A, "example.org": POLICY_B}, acme_webroot=str(acme))
    result = run_tool(require_tool("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def serve(tmp_path, netns):
    """Starts nginx on the rendered mta-sts sites inside a fresh namespace; returns a request runner."""
    require_tool("nginx")
    processes: list[subprocess.Popen] = []

    def start(policies: dict[str, str], acme_webroot: str | None = None):
        conf, cafile = _config(tmp_path, policies, acme_webroot)
        namespace = netns.add()
        processes.append(netns.popen(
            namespace, "nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;", stderr=subprocess.PIPE))

        def requests(*wanted: tuple[str, str, str]) -> list[dict]:
            result = netns.run(namespace, sys.executable, "-c", CLIENT, str(cafile), json.dumps(wanted), timeout=30)
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


def test_each_policy_host_serves_exactly_its_policy_as_text_plain(serve):
    requests = serve({"example.net": POLICY_A, "example.org": POLICY_B})
    a, b, with_query = requests(
        ("https", "mta-sts.example.net", POLICY_PATH),
        ("https", "mta-sts.example.org", POLICY_PATH),
        ("https", "mta-sts.example.net", POLICY_PATH + "?x=1"),
    )
    # §3.3: a 200 (no redirect: senders follow none), media type text/plain, the policy byte for byte.
    for answer, policy in ((a, POLICY_A), (b, POLICY_B), (with_query, POLICY_A)):
        assert answer["status"] == 200, answer
        assert answer["type"].split(";")[0].strip() == "text/plain", answer
        assert answer["body"] == policy, answer


def test_nothing_else_is_served(serve):
    requests = serve({"example.net": POLICY_A})
    answers = requests(
        ("https", "mta-sts.example.net", "/"),
        ("https", "mta-sts.example.net", "/index.html"),
        ("https", "mta-sts.example.net", "/.well-known/isp-staging/mta-sts.txt"),
        ("https", "mta-sts.example.net", "/.well-known/mta-sts.txt/"),
        ("https", "mta-sts.example.net", "/.well-known/"),
    )
    for answer in answers:
        assert answer["status"] == 404, answer
        assert "not the policy" not in answer["body"] and "staged" not in answer["body"], answer


def test_plain_http_only_redirects_or_answers_the_acme_challenge(serve, tmp_path):
    acme = tmp_path / "acme"
    (acme / ".well-known" / "acme-challenge").mkdir(parents=True)
    (acme / ".well-known" / "acme-challenge" / "tok-1").write_text("tok-1.thumbprint")
    requests = serve({"example.net": POLICY_A}, acme_webroot=str(acme))
    policy, token, other = requests(
        ("http", "mta-sts.example.net", POLICY_PATH),
        ("http", "mta-sts.example.net", "/.well-known/acme-challenge/tok-1"),
        ("http", "attacker.example.org", "/x"),
    )
    # A sender that tried plain HTTP would not follow the redirect (§3.3): it gets no policy from port 80.
    assert policy["status"] == 301 and policy["location"] == f"https://mta-sts.example.net{POLICY_PATH}", policy
    assert "STSv1" not in policy["body"], policy
    assert token["status"] == 200 and token["body"] == "tok-1.thumbprint", token
    assert other["status"] == 301 and other["location"].startswith("https://mta-sts.example.net/"), other


def test_an_mta_sts_site_is_one_mta_sts_name_with_no_upstream():
    for names in (["mta-sts.example.net", "mta-sts.example.org"], "www.example.net", "sts.example.net"):
        with pytest.raises(ValueError, match="server_name"):
            render_nginx_site(**{**SITE, "server_name": names})
    with pytest.raises(ValueError, match="upstream"):
        render_nginx_site(**{**SITE, "upstream": "127.0.0.1:9000"})


@pytest.mark.parametrize("parameter", ["server_name", "root", "tls_cert_path", "tls_key_path"])
def test_mta_sts_site_refuses_injection(parameter):
    assert_rejected(render_nginx_site, SITE, parameter)
