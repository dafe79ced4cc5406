"""DKIM signing on the mail host: what is delivered, the checks that guard it, and a private key that never
shows: not in the rendered plan, an Args repr, an error, nor in preflight's output, JSON, SARIF or JUnit."""

from __future__ import annotations

import base64
import subprocess

import pulumi
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pulumi.runtime import rpc

from components.delivery import HostConnection, staging_path
from components.mail_host import DkimSigningKey, MailHost, MailHostArgs, MailHostDkim, render_mail_host
from components.render.opendkim import KEY_TABLE, OPENDKIM_CONF, SIGNING_TABLE, TRUSTED_HOSTS
from tests.components.test_host_components import _run
from tests.conftest import REPO, project_copy, run_preflight

SELECTOR = "s2026a"
KEY_PATH = f"/etc/dkimkeys/{SELECTOR}.private"


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _public(pem: str, algorithm: str = "rsa") -> str:
    """p= as the design publishes it: rsa the DER SubjectPublicKeyInfo, ed25519 the raw key (RFC 8463 §4.2)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None).public_key()
    if algorithm == "ed25519":
        return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    return base64.b64encode(key.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def _body(pem: str) -> list[str]:
    """Pieces of the key's base64 body that must appear nowhere (each PEM line, and a long run of it)."""
    lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    body = "".join(lines)
    return [line for line in lines if len(line) >= 40] + [body[len(body) // 2:len(body) // 2 + 24]]


PEM = _rsa_pem()


def _args(prod, pem: str = PEM, **dkim) -> MailHostArgs:
    host = prod.hosts_with("mail")[0]
    signing = DkimSigningKey(selector=SELECTOR, public_key=_public(pem), private_key=pem)
    return MailHostArgs(
        connection=HostConnection(host="mail.example.net", user="root", private_key=pulumi.Output.secret("SSH")),
        fqdn="mail.example.net", domain="example.net", private_address=str(host.private_address),
        public_address=str(host.public_address), server_networks=["10.20.0.0/24"],
        customer_pools=["203.0.113.0/25"], mail=prod.mail,
        dkim=MailHostDkim(**{"domains": ["example.net", "customer.example"], "signing_keys": [signing], **dkim}),
    )


@pytest.fixture
def prod():
    from components.config import parse_stack_config
    from tests.conftest import stack_values

    return parse_stack_config(stack_values("prod"))


def test_opendkim_gets_its_files_and_the_key_belongs_to_it_owner_only(prod):
    rendered = render_mail_host(_args(prod))
    files = {f.path: f for f in rendered.opendkim.files}
    assert set(files) == {OPENDKIM_CONF, KEY_TABLE, SIGNING_TABLE, TRUSTED_HOSTS, KEY_PATH}
    key = files[KEY_PATH]
    assert (key.mode, key.owner, key.content) == ("0600", "opendkim:opendkim", "")  # the secret comes later
    assert "*@customer.example s2026a._domainkey.customer.example" in files[SIGNING_TABLE].content
    assert "10.20.0.0/24" in files[TRUSTED_HOSTS].content
    assert rendered.opendkim.reload == [["systemctl", "restart", "opendkim"]]
    main_cf = {f.path: f for f in rendered.postfix.files}["/etc/postfix/main.cf"].content
    assert "smtpd_milters = inet:localhost:8891" in main_cf and "milter_default_action = accept" in main_cf


def test_without_dkim_nothing_is_signed(prod):
    rendered = render_mail_host(_args(prod).model_copy(update={"dkim": None}))
    assert rendered.opendkim is None
    assert "milter" not in rendered.postfix.files[0].content


def test_the_conf_check_reads_the_staged_tables_not_the_live_ones(prod):
    rendered = render_mail_host(_args(prod))
    [conf_check] = [c for c in rendered.opendkim.checks if "opendkim-check" in c]
    checked = conf_check[-1]
    installed = rendered.opendkim.files[0].content
    for path in (KEY_TABLE, SIGNING_TABLE, TRUSTED_HOSTS):
        assert path not in checked.replace(staging_path(path), "")
        assert staging_path(path) in checked and path in installed
    assert checked.replace("/isp-staging", "") == installed  # otherwise the very same file


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_the_key_check_compares_the_staged_private_key_with_the_public_key_and_shows_neither(tmp_path, algorithm):
    """The check as the install script runs it: `sh -c <check> dkim-key-check <staged key> <publicKey> <sel>`."""
    from components.mail_host import _KEY_CHECK, _KEY_MISMATCH

    private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "rsa"
               else ed25519.Ed25519PrivateKey.generate())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    staged = tmp_path / "key.private"
    staged.write_text(pem)
    other = _rsa_pem() if algorithm == "rsa" else ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()

    def check(public_key: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", _KEY_CHECK[algorithm] + _KEY_MISMATCH, "dkim-key-check", str(staged),
                               public_key, SELECTOR], capture_output=True, text=True, timeout=30)

    good = check(_public(pem, algorithm))
    assert good.returncode == 0 and good.stdout == good.stderr == "", good.stderr
    bad = check(_public(other, algorithm))
    assert bad.returncode != 0 and f"selector {SELECTOR} does not match" in bad.stderr
    for piece in _body(pem):
        assert piece not in bad.stdout + bad.stderr


def test_the_component_delivers_the_key_as_a_secret_and_postfix_after_opendkim(mocks, prod):
    args = _args(prod)

    def build():
        MailHost("mail", args)

    _run(build)
    copies = {r.inputs["remotePath"]: r for r in mocks.resources if r.type == "command:remote:CopyToRemote"}
    source = copies[staging_path(KEY_PATH)].inputs["source"]
    # Registered as a secret (Pulumi's wire form: the secret signature around the value), the PEM inside.
    assert source[rpc._special_sig_key] == rpc._special_secret_sig and source["value"].text == PEM
    opendkim = next(r for r in mocks.resources if r.name == "mail-opendkim")
    postfix = next(r for r in mocks.resources if r.name == "mail-postfix")
    assert opendkim.parent == postfix.parent
    install = next(r for r in mocks.resources if r.name == "mail-opendkim-install")
    assert "chown -- opendkim:opendkim /etc/dkimkeys/isp-staging/s2026a.private.isp-swap" in install.inputs["create"]
    assert any("mail-opendkim" in urn for urn in postfix.depends), postfix.depends


def test_the_private_key_is_in_no_plan_repr_or_error(prod):
    args = _args(prod)
    rendered = render_mail_host(args)
    for text in (repr(args), str(args), repr(rendered), str(args.model_dump()), str(rendered.model_dump())):
        for piece in _body(PEM):
            assert piece not in text
    with pytest.raises(ValueError) as refused:  # a refusal on the signing keys
        render_mail_host(_args(prod, signing_keys=[
            DkimSigningKey(selector=SELECTOR, public_key=_public(PEM), private_key=PEM),
            DkimSigningKey(selector="e2026a", algorithm="ed25519", public_key="x", private_key=PEM)]))
    for piece in _body(PEM):
        assert piece not in str(refused.value) and piece not in repr(refused.value)


# -- preflight, as a user runs it ------------------------------------------------------------------------


def _with_real_key(pem: str, **dkim):
    def mutate(config: dict) -> None:
        config["isp:dkimKey_s2026a"] = pem  # in plain text: what the CLI hands the program decrypted
        config["isp:mail"]["dkim"] = {"signWith": [SELECTOR], "keys": [
            {"selector": SELECTOR, "algorithm": "rsa", "publicKey": _public(pem)}], **dkim}
    return mutate


def _everything(tmp_path, result) -> str:
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*")
             if p.is_file() and "project" not in p.relative_to(tmp_path).parts]
    return "\n".join([result.stdout, result.stderr, *files])


def test_preflight_previews_with_a_real_key_and_shows_it_nowhere(tmp_path):
    project = project_copy(tmp_path, "dev", _with_real_key(PEM))
    sarif, junit = tmp_path / "out.sarif", tmp_path / "out.xml"
    result, document = run_preflight(project, "dev", tmp_path, "--policy-pack", str(REPO / "policies"),
                                     "--sarif", str(sarif), "--junit", str(junit))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert sarif.exists() and junit.exists() and document
    assert any(r["name"].endswith("dkim-s2026a") for r in document["resources"])
    text = _everything(tmp_path, result)
    for piece in _body(PEM):
        assert piece not in text
    assert not list((tmp_path / "build").rglob(f"{SELECTOR}.private"))  # a secret's file is never written


def test_preflight_refusing_the_signing_keys_shows_no_key(tmp_path):
    ed_pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()

    def mutate(config: dict) -> None:
        _with_real_key(PEM)(config)
        config["isp:dkimKey_e2026a"] = ed_pem
        config["isp:mail"]["dkim"]["signWith"].append("e2026a")
        config["isp:mail"]["dkim"]["keys"].append(
            {"selector": "e2026a", "algorithm": "ed25519", "publicKey": _public(ed_pem, "ed25519")})

    project = project_copy(tmp_path, "dev", mutate)
    result, _ = run_preflight(project, "dev", tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "ed25519" in result.stderr
    text = _everything(tmp_path, result)
    for piece in [*_body(PEM), *_body(ed_pem)]:
        assert piece not in text
