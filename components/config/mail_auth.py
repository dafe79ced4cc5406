"""Mail authentication settings: DKIM keys, MTA-STS and TLS-RPT, and the DMARC policy each zone gets.

"Hosted mail domains" are the domains whose mail our hosts handle: `organization.domain` and every
zone whose apex MX records all name our mail hosts. For each, the stack publishes the DKIM keys
(RFC 6376 §3.6.2.1), MTA-STS (RFC 8461 §3) and TLS-RPT (RFC 8460 §3); the mail hosts sign their mail.

A zone's DMARC policy (RFC 7489 §6.3) is its `dmarcPolicy`, or derived: `reject` for a zone that
sends no mail (its MX is the null MX, RFC 7505), `reject` for a hosted mail domain once our hosts
sign with DKIM, `none` otherwise. Refusals (each naming its key and rule):

- `dmarc-enforcement-needs-dkim`: `quarantine`/`reject` on a hosted mail domain without `mail.dkim`.
  SPF fails on every plain forward; only a DKIM signature survives it, so enforcement resting on
  SPF alone has receivers reject our customers' forwarded mail.
- `private-key-config-of-its-own`: a DKIM key's `privateKeyConfig` names no host's `sshKeyConfig`.
- `mta-sts-needs-a-web-host`: the MTA-STS policy is served by the first `web` host.

A DKIM public key is never quoted in a refusal: what is pasted there may be a private key.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from components.config.fields import CONFIG_KEY_RE, ConfigModel, domain_name, duplicates, mailbox
from components.config.keys import DKIM_KEY_PREFIX, MTA_STS_TLS_KEY, SECRET_KEYS
from components.config.null_mx import is_null_mx
from components.config.tenancy import record_owner
from components.config.webmail import WebmailCertificate

if TYPE_CHECKING:
    from components.config.model import StackConfig, Zone

DmarcPolicy = Literal["none", "quarantine", "reject"]
DkimAlgorithm = Literal["rsa", "ed25519"]
MIN_RSA_BITS = 2048  # RFC 8301 §3.2 forbids under 1024 and asks for 2048; so do Gmail's sender rules
ED25519_KEY_BYTES = 32  # RFC 8463 §4.2: p= is the raw public key, base64
# RFC 8461 §3.2: max_age in seconds, at most 31557600 (a year); under a day a policy barely protects.
MTA_STS_MIN_AGE, MTA_STS_MAX_AGE = 86400, 31557600

# RFC 6376 §3.1: selector = sub-domain *("." sub-domain), sub-domain as RFC 5321 §4.1.2: letters,
# digits and inner hyphens. Lowercase here, as every DNS name of the config is.
_SELECTOR_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR_RE = re.compile(rf"{_SELECTOR_LABEL}(?:\.{_SELECTOR_LABEL})*")
_SELECTOR_MAX = 128  # leaves room under the 253 characters of <selector>._domainkey.<domain>
# RFC 8460 §3: rua URIs are mailto: or https:; a comma or semicolon would end the URI, "!" starts a size limit.
_HTTPS_URI_RE = re.compile(r"https://(?P<host>[a-z0-9.-]+)(?::[0-9]{1,5})?(?P<path>/[A-Za-z0-9._~/%+=&?-]*)?")


def _selector(value: str) -> str:
    if len(value) > _SELECTOR_MAX or not _SELECTOR_RE.fullmatch(value):
        raise ValueError("must be a DKIM selector (RFC 6376 §3.1): lowercase DNS labels of letters, digits and "
                         f"inner hyphens, dot-separated, at most {_SELECTOR_MAX} characters, such as s2026a")
    return value


Selector = Annotated[str, AfterValidator(_selector)]


def default_private_key_config(selector: str) -> str:
    """The secret key a DKIM key's private key is read from when `privateKeyConfig` is not given."""
    return DKIM_KEY_PREFIX + selector.replace("-", "_").replace(".", "_")


def _private_key_message(key_name: str) -> str:
    return ("holds a private key; publicKey is published in DNS for everyone: give the public key (base64 of "
            "`openssl pkey -pubout -outform DER`) and set the private key with "
            f"`pulumi config set --secret isp:{key_name} < key.pem`")


def _private_key_der(der: bytes) -> bool:
    try:
        serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        return False
    return True


def public_key_problem(text: Any, algorithm: str, key_name: str) -> str | None:
    """Why `text` is not the p= of a DKIM key of `algorithm` (None when it is). Never quotes the text:
    a private key pasted here by mistake must not reach an error message."""
    if not isinstance(text, str):
        return "must be text: the base64 public key"
    if "PRIVATE" in text.upper():
        return _private_key_message(key_name)
    if "-----BEGIN" in text:
        return ("is PEM; give only the base64 between its BEGIN and END lines, on one line (the p= value of "
                "the DKIM record opendkim-genkey writes)")
    if re.search(r"\s|\"", text):
        return "must be one line of base64 without spaces or quotes (join the quoted pieces of the p= value)"
    try:
        der = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return "is not base64"
    if not der:
        return "is empty"
    if algorithm == "ed25519":
        return _ed25519_problem(der, key_name)
    return _rsa_problem(der, key_name)


def _rsa_problem(der: bytes, key_name: str) -> str | None:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        if _private_key_der(der):
            return _private_key_message(key_name)
        return ("is not a DER SubjectPublicKeyInfo (what opendkim-genkey publishes as p= and "
                "`openssl pkey -pubout -outform DER` writes)")
    if not isinstance(key, rsa.RSAPublicKey):
        hint = "; set algorithm: ed25519 and give its raw 32 bytes" if isinstance(key, ed25519.Ed25519PublicKey) else ""
        return f"is not an RSA key{hint}"
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if spki != der:
        return ("is an RSA key but not as a DER SubjectPublicKeyInfo (a bare PKCS#1 RSAPublicKey?); give the "
                "output of `openssl pkey -pubout -outform DER`, base64")
    if key.key_size < MIN_RSA_BITS:
        return (f"is an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required (RFC 8301 §3.2: "
                "verifiers treat keys under 1024 bits as failing, and large receivers expect 2048)")
    return None


def _ed25519_problem(der: bytes, key_name: str) -> str | None:
    if len(der) == ED25519_KEY_BYTES:
        return None
    if _private_key_der(der) or len(der) == 2 * ED25519_KEY_BYTES:  # PKCS#8, or libsodium's seed+public
        return _private_key_message(key_name)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        key = None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("is an ed25519 key as a DER SubjectPublicKeyInfo; RFC 8463 §4.2 publishes the raw 32-byte key "
                "(the last 32 bytes of this one), base64")
    return f"decodes to {len(der)} bytes; an ed25519 public key is exactly {ED25519_KEY_BYTES} (RFC 8463 §4.2)"


class DkimKey(ConfigModel):
    """One published DKIM key: `<selector>._domainkey.<domain>` TXT on every hosted mail domain."""

    selector: Selector
    algorithm: DkimAlgorithm = "rsa"
    public_key: str
    # The secret `isp:` key holding the private key (PEM); default "dkimKey_" + selector, '-' and '.' as '_'.
    # Only signing keys need it set.
    private_key_config: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _public_key(cls, data: Any) -> Any:
        # Checked on the raw object so that an error shows the object's key, never the text.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        selector = data.get("selector")
        if "privateKeyConfig" not in data and "private_key_config" not in data and isinstance(
                selector, str) and _SELECTOR_RE.fullmatch(selector):
            data["privateKeyConfig"] = default_private_key_config(selector)
        text = data.get("publicKey", data.get("public_key"))
        if text is not None:
            algorithm = data.get("algorithm", "rsa")
            name = data.get("privateKeyConfig", data.get("private_key_config"))
            shown_name = name if isinstance(name, str) and CONFIG_KEY_RE.fullmatch(name) else "dkimKey_<selector>"
            if problem := public_key_problem(text, algorithm if algorithm in ("rsa", "ed25519") else "rsa", shown_name):
                raise ValueError(f"publicKey {problem}")
        return data

    @field_validator("private_key_config")
    @classmethod
    def _secret_key_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not CONFIG_KEY_RE.fullmatch(value):
            raise ValueError(f"must be a config key name such as {DKIM_KEY_PREFIX}s2026a: a letter, then letters, "
                             f"digits and _, at most 64 (the default, {DKIM_KEY_PREFIX} and the selector, is too long "
                             "for a long selector: name one)")
        # The named key is read as this key's secret and kept out of the model: naming a setting would drop it,
        # naming another secret would sign with the SSH key or publish a TLS key's partner.
        from components.config.loading import model_keys

        if value in model_keys() or value in SECRET_KEYS:
            raise ValueError(f"names the setting {value}; it must name a secret key of its own such as "
                             f"{DKIM_KEY_PREFIX}s2026a (set with `pulumi config set --secret`)")
        return value


class DkimSettings(ConfigModel):
    """DKIM signing on the mail hosts (RFC 6376). Rotation by two selectors: publish the next key in
    `keys`, wait at least a TTL, move `signWith` to it, and retire the old key later."""

    sign_with: list[Selector] = Field(min_length=1)
    keys: list[DkimKey] = Field(min_length=1)

    @model_validator(mode="after")
    def _selectors_unique(self) -> DkimSettings:
        if dup := sorted(duplicates([k.selector for k in self.keys])):
            raise ValueError(f"keys: selector(s) {dup} listed twice; each key needs its own selector")
        if dup := sorted(duplicates([k.private_key_config for k in self.keys])):
            raise ValueError(f"keys: privateKeyConfig {dup} named by more than one key; each key has its own secret")
        return self

    @model_validator(mode="after")
    def _sign_with_published_keys(self) -> DkimSettings:
        if dup := sorted(duplicates(self.sign_with)):
            raise ValueError(f"signWith lists {dup} twice")
        published = {k.selector for k in self.keys}
        if missing := [s for s in self.sign_with if s not in published]:
            raise ValueError(f"signWith names {missing}, which no entry of keys publishes; a receiver could not "
                             "verify the signature: add the key to keys (and publish it a TTL before signing)")
        return self

    @model_validator(mode="after")
    def _one_signature_per_algorithm(self) -> DkimSettings:
        by_selector = {k.selector: k.algorithm for k in self.keys}
        algorithms = [by_selector[s] for s in self.sign_with]
        if dup := sorted(duplicates(algorithms)):
            raise ValueError(f"signWith {self.sign_with} signs twice with {dup}; one signature per algorithm "
                             "(in rotation, move signWith from the old selector to the new one)")
        if "rsa" not in algorithms:
            raise ValueError(f"signWith {self.sign_with} has no rsa key; receivers that do not know ed25519 "
                             "(RFC 8463) treat its signature as none, so one signing key must be rsa")
        return self

    @model_validator(mode="after")
    def _signs_as_opendkim_can(self) -> DkimSettings:
        # Debian's OpenDKIM 2.11 takes one SignatureAlgorithm for every key: beside an rsa key the ed25519
        # signature fails at the end of the message, which is then refused (451 4.7.0) - found by
        # tests/components/render/test_opendkim.py. An ed25519 key may still be published, ahead of a signer.
        if ed25519 := [s for s in self.sign_with if self.key(s).algorithm == "ed25519"]:
            raise ValueError(f"signWith {self.sign_with} signs with the ed25519 key(s) {ed25519}: the mail hosts' "
                             "OpenDKIM signs with one algorithm only, so sign with the rsa key alone and keep "
                             "the ed25519 key published in keys")
        return self

    def key(self, selector: str) -> DkimKey:
        return next(k for k in self.keys if k.selector == selector)

    @property
    def signing_keys(self) -> list[DkimKey]:
        return [self.key(s) for s in self.sign_with]


class MtaStsCertificate(WebmailCertificate):
    """Where the certificate of the `mta-sts.<domain>` names comes from, as for webmail: `acme`, or
    `provided` (one certificate naming every `mta-sts.<domain>`; its key in the secret isp:mtaStsTlsKey)."""

    KEY_SECRET: ClassVar[str] = MTA_STS_TLS_KEY


class MtaStsSettings(ConfigModel):
    """MTA-STS (RFC 8461): senders require TLS with a valid certificate to our MX hosts."""

    mode: Literal["enforce", "testing", "none"] = "testing"
    max_age: int = Field(default=604800, ge=MTA_STS_MIN_AGE, le=MTA_STS_MAX_AGE)
    certificate: MtaStsCertificate = MtaStsCertificate()


def _report_uri(value: str) -> str:
    if value.startswith("mailto:"):
        try:
            mailbox(value.removeprefix("mailto:"))
        except ValueError as exc:
            raise ValueError(f"mailto: {exc}") from None
        return value
    match = _HTTPS_URI_RE.fullmatch(value)
    if match is None:
        raise ValueError("must be a mailto: or https: URI (RFC 8460 §3) without commas, semicolons or '!', such as "
                         "mailto:tlsrpt@example.net")
    domain_name(match["host"])
    return value


class TlsRptSettings(ConfigModel):
    """TLS-RPT (RFC 8460): where senders report failed TLS to our MX hosts. Default: organization.contactEmail."""

    rua: list[Annotated[str, AfterValidator(_report_uri)]] | None = Field(default=None, min_length=1)


# ---------------------------------------------------------------------------------------
# Derived from the whole stack


def apex_mx_exchanges(zone: Zone) -> list[str]:
    """The exchanges of the zone's hand-written apex MX records, in MX order (preference, then as written)."""
    found = [(r.priority or 0, i, r.content.rstrip(".").lower() or r.content) for i, r in enumerate(zone.records)
             if r.type == "MX" and record_owner(r.name, zone.name) == zone.name]
    return [exchange for _, _, exchange in sorted(found)]


def is_hosted_mail_domain(cfg: StackConfig, zone: Zone) -> bool:
    """Our mail hosts take the zone's mail: it is organization.domain, or its apex MX all name them."""
    if zone.name == cfg.organization.domain:
        return True
    ours = {cfg.fqdn(h) for h in cfg.hosts_with("mail")}
    exchanges = apex_mx_exchanges(zone)
    return bool(exchanges) and all(x in ours for x in exchanges)


def hosted_mail_domains(cfg: StackConfig) -> list[str]:
    """organization.domain first, then every zone whose apex MX records all name our mail hosts."""
    domain = cfg.organization.domain
    return [domain, *(z.name for z in cfg.zones if z.name != domain and is_hosted_mail_domain(cfg, z))]


def sends_no_mail(cfg: StackConfig, zone: Zone) -> bool:
    """The zone's apex has the null MX (written, or added by the program to a zone without MX)."""
    if zone.name == cfg.organization.domain:
        return False
    return all(is_null_mx("MX", x) for x in apex_mx_exchanges(zone))


def dmarc_policy(cfg: StackConfig, zone: Zone) -> DmarcPolicy:
    """The zone's DMARC p=: its own dmarcPolicy, else reject where no mail is sent or where our hosts sign."""
    if zone.dmarc_policy is not None:
        return zone.dmarc_policy
    if sends_no_mail(cfg, zone):
        return "reject"  # RFC 7505 §4: with the null MX, "v=spf1 -all" and p=reject forged mail has nowhere to go
    if cfg.mail.dkim is not None and is_hosted_mail_domain(cfg, zone):
        return "reject"
    return "none"


def _error(loc: tuple[str | int, ...], value: object, why: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("mail_auth", "{why}", {"why": why}), loc=loc, input=value)


def mail_auth_errors(cfg: StackConfig) -> list[InitErrorDetails]:
    errors: list[InitErrorDetails] = []
    if cfg.mail.dkim is None:
        for i, zone in enumerate(cfg.zones):
            if zone.dmarc_policy in ("quarantine", "reject") and is_hosted_mail_domain(cfg, zone):
                errors.append(_error(
                    ("zones", i, "dmarc_policy"), zone.dmarc_policy,
                    f"zone {zone.name}: our mail hosts send its mail, and they sign none (mail.dkim is not set); "
                    "DMARC enforcement would rest on SPF alone, which fails on every forward, so receivers would "
                    "reject our customers' forwarded mail: set mail.dkim, or write dmarcPolicy: none "
                    "(rule: dmarc-enforcement-needs-dkim)"))
    else:
        ssh_keys = {h.ssh_key_config for h in cfg.hosts}
        for k, key in enumerate(cfg.mail.dkim.keys):
            if key.private_key_config in ssh_keys:
                errors.append(_error(
                    ("mail", "dkim", "keys", k, "private_key_config"), key.private_key_config,
                    f"is a host's sshKeyConfig; the DKIM key of {key.selector} needs a secret key of its own "
                    "(rule: private-key-config-of-its-own)"))
    if cfg.mail.mta_sts is not None and not cfg.hosts_with("web"):
        errors.append(_error(
            ("mail", "mta_sts"), cfg.mail.mta_sts.model_dump(by_alias=True),
            "is set but no host has the role 'web', which serves the policy at "
            "https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2): add 'web' to a host's roles "
            "(rule: mta-sts-needs-a-web-host)"))
    return errors


def enforce_mail_auth(cfg: StackConfig) -> None:
    """Raise the model's own ValidationError, each entry located at its key."""
    if errors := mail_auth_errors(cfg):
        raise ValidationError.from_exception_data("StackConfig", errors)
