"""Mail authentication settings: DKIM keys as RFC 6376/8301/8463 define them, MTA-STS and TLS-RPT settings
(RFC 8461, 8460), and each zone's DMARC policy (RFC 7489), enforcement only where our hosts sign.

Keys are made here with `cryptography`, as opendkim-genkey and openssl make them: p= is the base64 of the
DER SubjectPublicKeyInfo for rsa (RFC 6376 §3.6.1), the raw 32 bytes for ed25519 (RFC 8463 §4.2).
"""

from __future__ import annotations

import base64
import functools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from components.config import parse_stack_config
from components.config.mail_auth import default_private_key_config, dmarc_policy, hosted_mail_domains
from tests.components.config.refusals import refusal

DER, SPKI, PKCS8 = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo,
                    serialization.PrivateFormat.PKCS8)


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rsa_public(bits: int = 2048) -> str:
    return b64(rsa_key(bits).public_key().public_bytes(DER, SPKI))


@functools.cache
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ed_public() -> str:
    return b64(ed_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def with_dkim(values: dict, *keys: dict, sign_with: list[str] | None = None) -> dict:
    keys = keys or ({"selector": "s2026a", "publicKey": rsa_public()},)
    values["mail"]["dkim"] = {"signWith": sign_with or [keys[0]["selector"]], "keys": list(keys)}
    return values


def without_dkim(values: dict) -> dict:
    values["mail"].pop("dkim", None)
    values["mail"].pop("mtaSts", None)
    return values


CUSTOMER_MX = {"name": "@", "type": "MX", "content": "mail.example.net", "priority": 10}


# --- DKIM keys -------------------------------------------------------------------------------------


def test_an_rsa_2048_key_signs_and_an_ed25519_key_is_published_beside_it(prod_values):
    cfg = parse_stack_config(with_dkim(prod_values, {"selector": "s2026a", "publicKey": rsa_public()},
                                       {"selector": "e2026a", "algorithm": "ed25519", "publicKey": ed_public()},
                                       sign_with=["s2026a"]))
    assert [(k.selector, k.algorithm) for k in cfg.mail.dkim.signing_keys] == [("s2026a", "rsa")]
    assert [k.selector for k in cfg.mail.dkim.keys] == ["s2026a", "e2026a"]
    assert cfg.mail.dkim.key("s2026a").private_key_config == "dkimKey_s2026a"


def test_an_ed25519_signature_beside_rsa_is_refused_as_opendkim_cannot_sign_both(prod_values):
    """Debian's OpenDKIM 2.11 has one SignatureAlgorithm for all keys: the second signature would fail (451)."""
    refusal(with_dkim(prod_values, {"selector": "s2026a", "publicKey": rsa_public()},
                      {"selector": "e2026a", "algorithm": "ed25519", "publicKey": ed_public()},
                      sign_with=["s2026a", "e2026a"]), "signs with the ed25519 key(s) ['e2026a']")


@pytest.mark.parametrize("selector,secret", [
    ("s2026a", "dkimKey_s2026a"), ("mail-2026", "dkimKey_mail_2026"), ("brisbane.2026", "dkimKey_brisbane_2026")])
def test_the_private_key_is_read_from_dkimkey_and_the_selector_by_default(selector, secret):
    assert default_private_key_config(selector) == secret


@pytest.mark.parametrize("selector", ["s2026a", "2026", "a-b", "brisbane.2026", "x" * 63])
def test_selectors_rfc_6376_allows(prod_values, selector):
    """RFC 6376 §3.1: selector = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (RFC 5321)."""
    cfg = parse_stack_config(with_dkim(prod_values, {"selector": selector, "publicKey": rsa_public(),
                                                     "privateKeyConfig": "dkimKeyOne"}))
    assert cfg.mail.dkim.keys[0].selector == selector


@pytest.mark.parametrize("selector", ["-s", "s-", "a..b", ".a", "a.", "s_2026", "s 2026", "S2026", "x" * 64, "",
                                      "a/b", "s2026\n"])
def test_selectors_rfc_6376_forbids(prod_values, selector):
    refusal(with_dkim(prod_values, {"selector": selector, "publicKey": rsa_public(), "privateKeyConfig": "k1"}),
            "isp:mail.dkim.keys[0].selector", "must be a DKIM selector (RFC 6376 §3.1)")


def test_a_selector_is_published_once(prod_values):
    key = {"selector": "s2026a", "publicKey": rsa_public()}
    refusal(with_dkim(prod_values, key, {**key, "privateKeyConfig": "other"}),
            "isp:mail.dkim", "selector(s) ['s2026a'] listed twice")


def test_two_keys_do_not_share_a_secret(prod_values):
    refusal(with_dkim(prod_values, {"selector": "a", "publicKey": rsa_public(), "privateKeyConfig": "k"},
                      {"selector": "b", "publicKey": rsa_public(), "privateKeyConfig": "k"}),
            "privateKeyConfig ['k'] named by more than one key")


def test_an_rsa_key_under_2048_bits_is_refused(prod_values):
    """RFC 8301 §3.2: verifiers fail keys under 1024 bits; we require the 2048 receivers expect."""
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public(1024)}),
            "isp:mail.dkim.keys[0]: publicKey is an RSA key of 1024 bits; at least 2048")


def test_a_4096_bit_rsa_key_is_accepted(prod_values):
    assert parse_stack_config(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public(4096)}))


def _private_pastes() -> list[tuple[str, str]]:
    key = rsa_key()
    pem = key.private_bytes(serialization.Encoding.PEM, PKCS8, serialization.NoEncryption()).decode()
    trad = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()
    der = key.private_bytes(DER, PKCS8, serialization.NoEncryption())
    ed_der = ed_key().private_bytes(DER, PKCS8, serialization.NoEncryption())
    ed_raw = ed_key().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    sodium = ed_raw + base64.b64decode(ed_public())  # libsodium's secret key: the seed, then the public key
    return [("rsa", pem), ("rsa", trad), ("rsa", b64(der)), ("rsa", "".join(pem.splitlines()[1:-1])),
            ("ed25519", b64(ed_der)), ("ed25519", b64(sodium)), ("ed25519", pem)]


# Named ids: the keys are made afresh at collection, and a test id must neither show them nor differ
# between two collections (pytest-xdist's workers collect separately and must agree).
@pytest.mark.parametrize("algorithm,pasted", _private_pastes(), ids=[
    "rsa-pkcs8-pem", "rsa-traditional-pem", "rsa-pkcs8-der-base64", "rsa-pem-body-joined",
    "ed25519-pkcs8-der-base64", "ed25519-libsodium-secret", "ed25519-given-an-rsa-pem"])
def test_a_private_key_pasted_as_public_is_refused_and_never_shown(prod_values, algorithm, pasted):
    message = refusal(with_dkim(prod_values, {"selector": "s1", "algorithm": algorithm, "publicKey": pasted}),
                      "isp:mail.dkim.keys[0]: publicKey holds a private key",
                      "pulumi config set --secret isp:dkimKey_s1")
    body = "".join(line for line in pasted.splitlines() if "-----" not in line)
    for start in range(0, len(body) - 16, 8):
        assert body[start : start + 16] not in message  # not a 16-character piece of it


@pytest.mark.parametrize("pasted,problem", [
    ("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", "is PEM; give only the base64"),
    ("MIIBIjAN BgkqhkiG9w0BAQEFAAOC", "must be one line of base64 without spaces"),
    ('"MIIBIjANBgkqhkiG9w0BAQEFAAOC"', "must be one line of base64 without spaces or quotes"),
    ("not-base64!", "is not base64"),
    ("", "is empty"),
    ("AAAA", "is not a DER SubjectPublicKeyInfo"),
])
def test_a_public_key_that_is_no_base64_spki_is_refused(prod_values, pasted, problem):
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": pasted}),
            f"isp:mail.dkim.keys[0]: publicKey {problem}")


def test_an_rsa_key_as_bare_pkcs1_is_refused(prod_values):
    pkcs1 = rsa_key().public_key().public_bytes(DER, serialization.PublicFormat.PKCS1)
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": b64(pkcs1)}),
            "not as a DER SubjectPublicKeyInfo")


def test_a_key_of_another_kind_is_not_rsa(prod_values):
    ec_spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(DER, SPKI)
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": b64(ec_spki)}), "publicKey is not an RSA key")
    ed_spki = ed_key().public_key().public_bytes(DER, SPKI)
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": b64(ed_spki)}), "set algorithm: ed25519")


def test_an_ed25519_key_is_its_raw_32_bytes(prod_values):
    """RFC 8463 §4.2: the p= of an ed25519 key is the base64 of the 32-byte public key, no SPKI around it."""
    spki = ed_key().public_key().public_bytes(DER, SPKI)
    base = {"selector": "e1", "algorithm": "ed25519"}
    rsa_first = {"selector": "s1", "publicKey": rsa_public()}
    refusal(with_dkim(prod_values, rsa_first, {**base, "publicKey": b64(spki)}),
            "as a DER SubjectPublicKeyInfo; RFC 8463 §4.2 publishes the raw 32-byte key")
    refusal(with_dkim(prod_values, rsa_first, {**base, "publicKey": b64(b"\x01" * 31)}),
            "decodes to 31 bytes; an ed25519 public key is exactly 32")
    refusal(with_dkim(prod_values, rsa_first, {**base, "publicKey": rsa_public()}),
            "an ed25519 public key is exactly 32")


def test_sign_with_names_published_keys(prod_values):
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public()}, sign_with=["s2"]),
            "signWith names ['s2'], which no entry of keys publishes")
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public()}, sign_with=["s1", "s1"]),
            "signWith lists ['s1'] twice")
    values = with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public()})
    values["mail"]["dkim"]["signWith"] = []
    refusal(values, "isp:mail.dkim.signWith")


def test_one_signature_per_algorithm_and_one_of_them_rsa(prod_values):
    """Two rsa signatures are a rotation left half-done; an ed25519 one alone fails at receivers without RFC 8463."""
    a, b = ({"selector": s, "publicKey": rsa_public(), "privateKeyConfig": f"k{s}"} for s in ("a", "b"))
    refusal(with_dkim(prod_values, a, b, sign_with=["a", "b"]), "signs twice with ['rsa']")
    ed = {"selector": "e", "algorithm": "ed25519", "publicKey": ed_public()}
    refusal(with_dkim(prod_values, a, ed, sign_with=["e"]), "has no rsa key")
    # Rotation: both published, one signing.
    cfg = parse_stack_config(with_dkim(copy_of(prod_values), a, b, sign_with=["b"]))
    assert [k.selector for k in cfg.mail.dkim.signing_keys] == ["b"]


def copy_of(values: dict) -> dict:
    import copy

    return copy.deepcopy(values)


@pytest.mark.parametrize("name", ["zones", "mail", "sshPrivateKey", "webmailTlsKey", "acmeCloudflareToken",
                                  "mtaStsTlsKey"])
def test_private_key_config_names_a_secret_of_its_own(prod_values, name):
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public(), "privateKeyConfig": name}),
            f'isp:mail.dkim.keys[0].privateKeyConfig = "{name}": names the setting {name}')


def test_private_key_config_is_not_a_hosts_ssh_key(prod_values):
    prod_values["hosts"][0]["sshKeyConfig"] = "gatewayKey"
    refusal(with_dkim(prod_values, {"selector": "s1", "publicKey": rsa_public(), "privateKeyConfig": "gatewayKey"}),
            'isp:mail.dkim.keys[0].privateKeyConfig = "gatewayKey": is a host\'s sshKeyConfig',
            "(rule: private-key-config-of-its-own)")


def test_a_long_selector_needs_a_named_secret(prod_values):
    refusal(with_dkim(prod_values, {"selector": "x" * 60, "publicKey": rsa_public()}),
            "isp:mail.dkim.keys[0].privateKeyConfig", "too long for a long selector")


# --- hosted mail domains and DMARC -------------------------------------------------------------------


def test_hosted_mail_domains_are_ours_and_the_zones_whose_mx_are_all_our_mail_hosts(prod_values):
    prod_values["zones"] += [
        {"name": "hosted.org", "records": [CUSTOMER_MX]},
        {"name": "mixed.org", "records": [CUSTOMER_MX, {**CUSTOMER_MX, "content": "mx.other.example", "priority": 20}]},
        {"name": "elsewhere.org", "records": [{**CUSTOMER_MX, "content": "mx.other.example"}]},
        {"name": "nomail.org", "records": [{"name": "@", "type": "MX", "content": ".", "priority": 0}]},
        {"name": "quiet.org"},
        {"name": "sub.org", "records": [{**CUSTOMER_MX, "name": "lists"}]},  # below the apex only
        {"name": "dotted.org", "records": [{**CUSTOMER_MX, "content": "mail.example.net."}]},
    ]
    cfg = parse_stack_config(prod_values)
    assert hosted_mail_domains(cfg) == ["example.net", "example.com", "hosted.org", "dotted.org"]


@pytest.mark.parametrize("zone,with_keys,expected", [
    ({"name": "quiet.org"}, False, "reject"),  # sends no mail: the null MX (RFC 7505 §4 pairs it with p=reject)
    ({"name": "quiet.org"}, True, "reject"),
    ({"name": "hosted.org", "records": [CUSTOMER_MX]}, True, "reject"),
    ({"name": "hosted.org", "records": [CUSTOMER_MX]}, False, "none"),  # no DKIM: SPF alone fails on forwards
    ({"name": "own.org", "records": [{**CUSTOMER_MX, "content": "mx.own.example"}]}, True, "none"),  # not ours
    ({"name": "own.org", "records": [{**CUSTOMER_MX, "content": "mx.own.example"}], "dmarcPolicy": "quarantine"},
     False, "quarantine"),
    ({"name": "hosted.org", "records": [CUSTOMER_MX], "dmarcPolicy": "none"}, True, "none"),
])
def test_the_dmarc_policy_is_derived_where_not_written(prod_values, zone, with_keys, expected):
    values = with_dkim(prod_values) if with_keys else without_dkim(prod_values)
    values["zones"].append(zone)
    cfg = parse_stack_config(values)
    assert dmarc_policy(cfg, cfg.zones[-1]) == expected


def test_our_own_domain_enforces_only_when_signing(prod_values):
    cfg = parse_stack_config(without_dkim(copy_of(prod_values)))
    assert dmarc_policy(cfg, cfg.zones[0]) == "none"
    cfg = parse_stack_config(with_dkim(prod_values))
    assert dmarc_policy(cfg, cfg.zones[0]) == "reject"


@pytest.mark.parametrize("policy", ["quarantine", "reject"])
def test_dmarc_enforcement_on_our_mail_needs_dkim(prod_values, policy):
    values = without_dkim(prod_values)
    values["zones"][0]["dmarcPolicy"] = policy
    refusal(values, f'isp:zones[0].dmarcPolicy = "{policy}": zone example.net: our mail hosts send its mail',
            "set mail.dkim, or write dmarcPolicy: none (rule: dmarc-enforcement-needs-dkim)")
    values["zones"].append({"name": "hosted.org", "records": [CUSTOMER_MX], "dmarcPolicy": policy})
    values["zones"][0]["dmarcPolicy"] = "none"
    refusal(values, "isp:zones[2].dmarcPolicy", "(rule: dmarc-enforcement-needs-dkim)")


def test_dmarc_enforcement_elsewhere_is_the_customers_business(prod_values):
    values = without_dkim(prod_values)
    values["zones"] += [{"name": "own.org", "records": [{**CUSTOMER_MX, "content": "mx.own.example"}],
                         "dmarcPolicy": "reject"}, {"name": "quiet.org", "dmarcPolicy": "reject"}]
    assert parse_stack_config(values)


def test_dmarc_alignment_is_relaxed_or_strict(prod_values):
    prod_values["zones"][0]["dmarcAlignment"] = "strict"
    assert parse_stack_config(copy_of(prod_values)).zones[0].dmarc_alignment == "strict"
    prod_values["zones"][0]["dmarcAlignment"] = "s"
    refusal(prod_values, "isp:zones[0].dmarcAlignment")


# --- MTA-STS and TLS-RPT -----------------------------------------------------------------------------


@pytest.mark.parametrize("max_age,ok", [(86400, True), (31557600, True), (86399, False), (31557601, False)])
def test_mta_sts_max_age_is_a_day_to_a_year(prod_values, max_age, ok):
    """RFC 8461 §3.2: max_age at most 31557600 seconds."""
    prod_values["mail"]["mtaSts"]["maxAge"] = max_age
    if ok:
        assert parse_stack_config(prod_values).mail.mta_sts.max_age == max_age
    else:
        refusal(prod_values, "isp:mail.mtaSts.maxAge")


def test_mta_sts_mode_is_one_of_rfc_8461s(prod_values):
    prod_values["mail"]["mtaSts"]["mode"] = "on"
    refusal(prod_values, "isp:mail.mtaSts.mode")


def test_mta_sts_needs_a_web_host(prod_values):
    for host in prod_values["hosts"]:
        if "web" in host["roles"]:
            host["roles"].remove("web")
    refusal(prod_values, "isp:mail.mtaSts: is set but no host has the role 'web'", "(rule: mta-sts-needs-a-web-host)")


def test_a_provided_mta_sts_certificate_keeps_its_key_in_its_own_secret(prod_values):
    key_pem = rsa_key().private_bytes(serialization.Encoding.PEM, PKCS8, serialization.NoEncryption()).decode()
    prod_values["mail"]["mtaSts"]["certificate"] = {"source": "provided", "certificatePem": key_pem}
    message = refusal(prod_values, "certificatePem holds a private key", "isp:mtaStsTlsKey")
    assert "webmailTlsKey" not in message and key_pem.splitlines()[1] not in message


@pytest.mark.parametrize("uri,ok", [
    ("mailto:tlsrpt@example.net", True), ("https://reports.example.net/tlsrpt", True),
    ("mailto:a@example.net,mailto:b@example.net", False),  # a comma would split the URI (RFC 8460 §3)
    ("mailto:tlsrpt@example.net!10m", False), ("http://reports.example.net/", False), ("tlsrpt@example.net", False),
    ("https://reports.example.net/a;b", False),
])
def test_tls_rpt_reports_go_to_mailto_or_https(prod_values, uri, ok):
    prod_values["mail"]["tlsRpt"] = {"rua": [uri]}
    if ok:
        assert parse_stack_config(prod_values).mail.tls_rpt.rua == [uri]
    else:
        refusal(prod_values, "isp:mail.tlsRpt.rua[0]")


def test_tls_rpt_needs_somewhere_to_report(prod_values):
    prod_values["mail"]["tlsRpt"] = {"rua": []}
    refusal(prod_values, "isp:mail.tlsRpt.rua")
