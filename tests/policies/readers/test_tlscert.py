"""RFC 6125 name matching, certificates read with cryptography, ACME requests read from commands."""

from __future__ import annotations

import pytest
from pack_builders import pem
from readers import tlscert

from components.render.certificate import render_acme_script


@pytest.mark.parametrize(("pattern", "host", "covered"), [
    ("webmail.example.net", "webmail.example.net", True),
    ("WebMail.Example.NET.", "webmail.example.net", True),
    ("*.example.net", "webmail.example.net", True),
    ("*.example.net", "example.net", False),
    ("*.example.net", "a.webmail.example.net", False),
    ("*.net", "example.net", False),
    ("w*.example.net", "webmail.example.net", False),
    ("*mail.example.net", "webmail.example.net", False),
    ("webmail.*.net", "webmail.example.net", False),
    ("*.*.example.net", "a.b.example.net", False),
    ("mail.example.net", "webmail.example.net", False),
    ("webmail.example.net", "*.example.net", False),
    ("bücher.example.net", "xn--bcher-kva.example.net", True),
    ("", "webmail.example.net", False),
])
def test_rfc6125_matching(pattern, host, covered):
    assert tlscert.covers(pattern, host) is covered


def test_leaf_is_the_first_certificate_of_a_chain():
    chain = pem(["webmail.example.net"]) + pem(["intermediate.example"], common_name="CA")
    leaf = tlscert.read_leaf(chain)
    assert leaf.dns_names == ("webmail.example.net",) and leaf.has_san


def test_cn_only_certificate_has_no_dns_names():
    leaf = tlscert.read_leaf(pem(None))
    assert not leaf.has_san and leaf.dns_names == () and leaf.common_names == ("webmail.example.net",)


@pytest.mark.parametrize("text", ["", "not a pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_unreadable_pem_is_a_value_error(text):
    with pytest.raises(ValueError):
        tlscert.read_leaf(text)


@pytest.mark.parametrize(("command", "names", "cert_name"), [
    ("certbot certonly --webroot -w /var/www -d webmail.example.net", ("webmail.example.net",), "webmail.example.net"),
    ("certbot certonly -d a.example.net,b.example.net -d c.example.net", ("a.example.net", "b.example.net",
                                                                          "c.example.net"), "a.example.net"),
    ("certbot run --nginx --domains=webmail.example.net --cert-name mail-web", ("webmail.example.net",), "mail-web"),
    ("/usr/bin/certbot certonly -dwww.example.net --cert-name=www", ("www.example.net",), "www"),
    ("acme.sh --issue -d webmail.example.net -w /var/www", ("webmail.example.net",), "webmail.example.net"),
    ("lego --email a@b.cd --domains webmail.example.net --http run", ("webmail.example.net",),
     "webmail.example.net"),
    ("0 3 * * * root certbot renew -q", None, None),
])
def test_acme_requests(command, names, cert_name):
    found = tlscert.acme_requests(command)
    if names is None:
        assert found == []
    else:
        (request,) = found
        assert (request.names, request.cert_name) == (names, cert_name)


def test_certbot_cli_ini():
    (request,) = tlscert.acme_requests("authenticator = webroot\ndomains = webmail.example.net, x.example.net\n",
                                       ini=True)
    assert request.names == ("webmail.example.net", "x.example.net")


@pytest.mark.parametrize("challenge", ["http-01", "dns-01"])
def test_our_acme_script_asks_for_exactly_the_webmail_name(challenge):
    script = render_acme_script(name="webmail.example.net", email="a@example.net", challenge=challenge,
                                cert_dir="/etc/ssl/isp/webmail.example.net",
                                script_path="/usr/local/sbin/isp-acme-webmail.example.net")
    (request,) = tlscert.acme_requests(script)
    assert request.names == ("webmail.example.net",) and request.cert_name == "webmail.example.net"


@pytest.mark.parametrize(("command", "installer", "no_redirect"), [
    ("certbot --apache -d webmail.example.net", "apache", False),
    ("certbot run -a webroot -w /var/www -i nginx -d webmail.example.net --no-redirect", "nginx", True),
    ("certbot --installer=apache --authenticator standalone -d webmail.example.net", "apache", False),
    ("certbot certonly --nginx -d webmail.example.net", None, False),
    ("acme.sh --issue --apache -d webmail.example.net", None, False),
])
def test_certbot_installers_rewrite_the_web_config(command, installer, no_redirect):
    (request,) = tlscert.acme_requests(command)
    assert (request.installer, request.no_redirect) == (installer, no_redirect)
