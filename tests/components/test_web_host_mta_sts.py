"""WebHost's MTA-STS policy hosts under Pulumi's mocks (RFC 8461 §3.3): per hosted mail domain D,
the site for mta-sts.D, the policy file it serves, and a certificate for exactly that name."""

from __future__ import annotations

import datetime
import json

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.config import WebmailCertificate
from components.delivery import HostConnection
from components.web_host import MtaStsSite, WebHost, WebHostArgs
from tests.components.conftest import RecordingMocks, delivered_files, depends_on, resource_named
from tests.components.test_web_certificate import SECRET_SIG, WireMonitor

DOMAINS = ("example.net", "example.org")
KEY_MATERIAL = "THE-MTA-STS-KEY-MATERIAL"


def _policy(domain: str) -> str:
    return f"version: STSv1\nmode: enforce\nmx: mail.{domain}\nmax_age: 604800\n"


@pytest.fixture
def wire_mocks():
    recording = RecordingMocks()
    monitor = WireMonitor(recording)
    monitor.wire = []
    pulumi.runtime.set_mocks(recording, project="isp", stack="test", preview=False, monitor=monitor)
    recording.wire = monitor.wire
    return recording


def _provided_pem(names: list[str]) -> str:
    """One certificate naming every mta-sts.D (the design's provided case)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _build(certificate: WebmailCertificate, **secrets) -> None:
    @pulumi.runtime.test
    def run():
        WebHost("www", WebHostArgs(
            connection=HostConnection(host="www.example.net", user="deploy",
                                      private_key=pulumi.Output.secret("SSH-KEY")),
            www_names=["www.example.net", "example.net"],
            mta_sts=[MtaStsSite(name=f"mta-sts.{d}", policy=_policy(d), certificate=certificate,
                                acme_email="hostmaster@example.net",
                                **{k: pulumi.Output.secret(v) for k, v in secrets.items()})
                     for d in DOMAINS],
        ))
        return pulumi.Output.from_input(1)

    run()


def test_each_mail_domain_gets_its_policy_site_and_acme_certificate(wire_mocks):
    _build(WebmailCertificate(source="acme", challenge="http-01"))
    files = delivered_files(wire_mocks)
    certificates = {r.inputs["certificateName"]: r for r in wire_mocks.resources if r.type == "isp:web:WebCertificate"}
    assert set(certificates) == {f"mta-sts.{d}" for d in DOMAINS}
    for domain in DOMAINS:
        name = f"mta-sts.{domain}"
        # The policy, byte for byte, where the site's root + /.well-known/mta-sts.txt points.
        assert files[f"/var/www/mta-sts/{domain}/.well-known/isp-staging/mta-sts.txt"] == _policy(domain)
        site = files[f"/etc/nginx/conf.d/isp-staging/{name}.conf"]
        assert f"server_name {name};" in site and f"root /var/www/mta-sts/{domain};" in site
        assert f"ssl_certificate /etc/ssl/isp/{name}/fullchain.pem;" in site
        assert "location ^~ /.well-known/acme-challenge/" in site  # HTTP-01 on port 80
        # The certificate is for exactly this name, bootstrapped before nginx, requested after it.
        script = files[f"/usr/local/sbin/isp-staging/isp-acme-{name}"]
        assert f"-d '{name}'" in script and script.count(" -d ") == 1
        assert depends_on(resource_named(wire_mocks, "www-nginx"), f"www-{name}-certificate-acme-install")
        request = resource_named(wire_mocks, f"www-{name}-acme-request")
        assert request.inputs["create"] == f"/usr/local/sbin/isp-acme-{name} request"
        assert depends_on(request, "www-nginx-install")
    install = resource_named(wire_mocks, "www-nginx-install").inputs["create"]
    assert "nginx -t && systemctl reload nginx" in install


def test_one_provided_certificate_for_every_name_with_the_key_only_as_a_secret(wire_mocks):
    names = [f"mta-sts.{d}" for d in DOMAINS]
    pem = _provided_pem(names)
    _build(WebmailCertificate(source="provided", certificate_pem=pem), private_key=KEY_MATERIAL)
    files = delivered_files(wire_mocks)
    for name in names:
        assert files[f"/etc/ssl/isp/{name}/isp-staging/fullchain.pem"] == pem
        # Checked on the host for this very name before it is swapped in.
        install = resource_named(wire_mocks, f"www-{name}-certificate-tls-install").inputs["create"]
        assert f"certificate-names {name} /etc/ssl/isp/{name}/isp-staging/fullchain.pem ||" in install
        key_copy = next(inputs for n, inputs in wire_mocks.wire if n == f"www-{name}-certificate-tls-privkey.pem")
        assert key_copy["source"]["4dabf18193072939515e22adb298388d"] == SECRET_SIG
        assert not any(r.name == f"www-{name}-acme-request" for r in wire_mocks.resources)
    for name, inputs in wire_mocks.wire:
        if not name.endswith("-tls-privkey.pem"):
            assert KEY_MATERIAL not in json.dumps(inputs), name


def test_a_name_that_is_not_mta_sts_is_refused_before_anything_registers(mocks):
    args = WebHostArgs(
        connection=HostConnection(host="www.example.net", user="deploy", private_key="k"),
        mta_sts=[MtaStsSite(name="www.example.net", policy=_policy("example.net"),
                            certificate=WebmailCertificate(), acme_email="hostmaster@example.net")],
    )
    with pytest.raises(ValueError, match="server_name"):
        _ = args.rendered
    assert mocks.resources == []
