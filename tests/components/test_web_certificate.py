"""WebHost's webmail site and its certificate under Pulumi's mocks: ACME (HTTP-01, DNS-01)
and a provided certificate whose key stays a secret on the wire."""

from __future__ import annotations

import datetime
import json

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import json_format

from components.config import WebmailCertificate
from components.delivery import HostConnection, ManagedFile, swap_text
from components.web_certificate import WebCertificateArgs
from components.web_host import WebHost, WebHostArgs, WebmailSite
from tests.components.conftest import RecordingMocks, RecordingMonitor, delivered_files, depends_on, resource_named

NAME = "webmail.example.net"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTHE-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"
TOKEN = "CfToken0123456789abcdefghijklmnopqrstuv"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class WireMonitor(RecordingMonitor):
    """Also keeps each registration's inputs exactly as they went over the wire."""

    def RegisterResource(self, request):  # noqa: N802
        self.wire.append((request.name, json_format.MessageToDict(request.object)))
        return super().RegisterResource(request)


@pytest.fixture
def wire_mocks():
    recording = RecordingMocks()
    monitor = WireMonitor(recording)
    monitor.wire = []
    pulumi.runtime.set_mocks(recording, project="isp", stack="test", preview=False, monitor=monitor)
    recording.wire = monitor.wire
    return recording


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _build(certificate: WebmailCertificate, **secrets) -> None:
    @pulumi.runtime.test
    def run():
        WebHost(
            "www",
            WebHostArgs(
                connection=HostConnection(host="www.example.net", user="deploy",
                                          private_key=pulumi.Output.secret("SSH-KEY")),
                www_names=["www.example.net", "example.net"],
                webmail=WebmailSite(name=NAME, mail_host="mail.example.net", product_name="Webmail",
                                    certificate=certificate, acme_email="hostmaster@example.net",
                                    **{k: pulumi.Output.secret(v) for k, v in secrets.items()}),
            ),
        )
        return pulumi.Output.from_input(1)

    run()


def test_acme_http01(mocks):
    _build(WebmailCertificate(source="acme", challenge="http-01"))
    files = delivered_files(mocks)
    site = files[f"/etc/nginx/conf.d/isp-staging/{NAME}.conf"]
    assert "location ^~ /.well-known/acme-challenge/ {\n        root /var/lib/isp-acme;" in site
    assert f"ssl_certificate /etc/ssl/isp/{NAME}/fullchain.pem;" in site
    script = files[f"/usr/local/sbin/isp-staging/isp-acme-{NAME}"]
    assert f"-d '{NAME}'" in script and "--webroot --webroot-path '/var/lib/isp-acme'" in script
    assert script.count(" -d ") == 1
    acme_install = resource_named(mocks, "www-webmail-certificate-acme-install").inputs["create"]
    assert f"sh -n /usr/local/sbin/isp-staging/isp-acme-{NAME} ||" in acme_install
    assert f"/usr/local/sbin/isp-acme-{NAME} bootstrap" in acme_install
    # Order: certificate (bootstrap) -> nginx -> the ACME request (the site must answer on port 80).
    assert depends_on(resource_named(mocks, "www-nginx"), "www-webmail-certificate-acme-install")
    request = resource_named(mocks, "www-acme-request")
    assert request.inputs["create"] == f"/usr/local/sbin/isp-acme-{NAME} request"
    assert depends_on(request, "www-nginx-install")
    # Roundcube: checked by PHP's linter, its key made on the host.
    assert "$config['imap_host'] = 'ssl://mail.example.net:993';" in files["/etc/roundcube/isp-staging/config.inc.php"]
    roundcube = resource_named(mocks, "www-roundcube-install").inputs["create"]
    assert "php -l /etc/roundcube/isp-staging/config.inc.php ||" in roundcube
    assert "/etc/roundcube/isp-des-key" in roundcube


def test_acme_dns01_gets_the_token_only_as_a_secret(wire_mocks):
    _build(WebmailCertificate(source="acme", challenge="dns-01"), cloudflare_token=TOKEN)
    files = delivered_files(wire_mocks)
    site = files[f"/etc/nginx/conf.d/isp-staging/{NAME}.conf"]
    assert "acme-challenge" not in site
    script = files[f"/usr/local/sbin/isp-staging/isp-acme-{NAME}"]
    assert "--dns-cloudflare --dns-cloudflare-credentials '/etc/letsencrypt/isp-cloudflare.ini'" in script
    credentials = next(inputs for name, inputs in wire_mocks.wire
                       if name == "www-webmail-certificate-cloudflare-isp-cloudflare.ini")
    assert credentials["source"]["4dabf18193072939515e22adb298388d"] == SECRET_SIG
    _assert_only_secret(wire_mocks, TOKEN)
    install = resource_named(wire_mocks, "www-webmail-certificate-cloudflare-install").inputs["create"]
    assert swap_text(ManagedFile("/etc/letsencrypt/isp-cloudflare.ini", "", mode="0600")) in install


def test_provided_certificate_and_secret_key(wire_mocks):
    pem = _pem()
    _build(WebmailCertificate(source="provided", certificate_pem=pem), private_key=KEY_PEM)
    files = delivered_files(wire_mocks)
    assert files[f"/etc/ssl/isp/{NAME}/isp-staging/fullchain.pem"] == pem
    assert f"/usr/local/sbin/isp-staging/isp-acme-{NAME}" not in files
    assert not any(r.name == "www-acme-request" for r in wire_mocks.resources)
    key_copy = next(inputs for name, inputs in wire_mocks.wire if name == "www-webmail-certificate-tls-privkey.pem")
    assert key_copy["source"]["4dabf18193072939515e22adb298388d"] == SECRET_SIG
    _assert_only_secret(wire_mocks, "THE-SECRET-KEY-MATERIAL")
    install = resource_named(wire_mocks, "www-webmail-certificate-tls-install").inputs["create"]
    staged = f"/etc/ssl/isp/{NAME}/isp-staging"
    assert f"openssl x509 -noout -checkend 0 -in {staged}/fullchain.pem ||" in install
    assert f"certificate-names {NAME} {staged}/fullchain.pem ||" in install
    assert f"certificate-key {staged}/fullchain.pem {staged}/privkey.pem ||" in install
    assert swap_text(ManagedFile(f"/etc/ssl/isp/{NAME}/privkey.pem", "", mode="0600")) in install
    assert depends_on(resource_named(wire_mocks, "www-nginx"), "www-webmail-certificate-tls-install")


def test_a_renewed_certificate_leaves_the_unchanged_key_copy_alone():
    """The swap keeps the staged copies: a new certificate with the same key does not copy the key again (its
    protected-able copy carries no triggers; an unchanged input is no step)."""
    copies = []
    for pem in (_pem(), _pem()):
        mocks = RecordingMocks()
        monitor = WireMonitor(mocks)
        monitor.wire = []
        pulumi.runtime.set_mocks(mocks, project="isp", stack="test", preview=False, monitor=monitor)
        _build(WebmailCertificate(source="provided", certificate_pem=pem), private_key=KEY_PEM)
        key_copy = next(inputs for name, inputs in monitor.wire if name == "www-webmail-certificate-tls-privkey.pem")
        assert "triggers" not in key_copy
        copies.append(json.dumps(key_copy, sort_keys=True, default=str))
    assert copies[0] == copies[1]


def _assert_only_secret(mocks, text: str) -> None:
    """`text` appears on the wire only inside secret values."""
    def visit(value, inside_secret: bool) -> None:
        if isinstance(value, dict):
            secret = value.get("4dabf18193072939515e22adb298388d") == SECRET_SIG
            for item in value.values():
                visit(item, inside_secret or secret)
        elif isinstance(value, list):
            for item in value:
                visit(item, inside_secret)
        elif isinstance(value, str) and text in value:
            assert inside_secret, f"{text!r} outside a secret"

    for _, inputs in mocks.wire:
        visit(inputs, False)
    assert any(text in json.dumps(inputs) for _, inputs in mocks.wire)


def test_incomplete_certificate_args_are_refused():
    connection = HostConnection(host="h.example.net", user="deploy", private_key="k")
    with pytest.raises(ValueError, match="private_key"):
        WebCertificateArgs(connection=connection, name=NAME, source="provided", certificate_pem="x")
    with pytest.raises(ValueError, match="cloudflare_token"):
        WebCertificateArgs(connection=connection, name=NAME, source="acme", challenge="dns-01", acme_email="a@b.cd")


def test_local_transport_carries_the_key_on_stdin_as_a_secret(wire_mocks):
    """The lab's local hosts: the same stage/check/swap, run inside the host; the key stays secret."""
    @pulumi.runtime.test
    def run():
        WebHost(
            "www",
            WebHostArgs(
                connection=HostConnection.local("www.example.net", "www", "lab", project_dir="/srv/isp"),
                webmail=WebmailSite(name=NAME, mail_host="mail.example.net", product_name="Webmail",
                                    certificate=WebmailCertificate(source="provided", certificate_pem=_pem()),
                                    acme_email="hostmaster@example.net",
                                    private_key=pulumi.Output.secret(KEY_PEM)),
            ),
        )
        return pulumi.Output.from_input(1)

    run()
    assert not [r for r in wire_mocks.resources if r.type.startswith("command:remote:")]
    key_copy = next(inputs for name, inputs in wire_mocks.wire if name == "www-webmail-certificate-tls-privkey.pem")
    assert key_copy["stdin"]["4dabf18193072939515e22adb298388d"] == SECRET_SIG
    assert key_copy["environment"]["ISP_STAGED_PATH"] == f"/etc/ssl/isp/{NAME}/isp-staging/privkey.pem"
    _assert_only_secret(wire_mocks, "THE-SECRET-KEY-MATERIAL")
