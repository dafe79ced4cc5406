"""The webmail settings: Roundcube behind nginx and where its certificate comes from (lesson 10)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from components.config.fields import ConfigModel, DomainName, PrintableText, mailbox
from components.config.keys import WEBMAIL_TLS_KEY

_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----")


def _certificate_chain_problem(text: str, key_secret: str) -> str | None:
    """Why `text` is not a PEM certificate chain (None when it is). Never quotes the text:
    a private key pasted here by mistake must not reach an error message."""
    blocks = _PEM_BLOCK_RE.findall(text)
    if any("PRIVATE KEY" in label for label, _ in blocks) or "PRIVATE KEY-----" in text:
        return ("holds a private key; this plain setting is for the public certificate only; set the key with "
                f"`pulumi config set --secret isp:{key_secret} < key.pem`")
    if not blocks or any(label != "CERTIFICATE" for label, _ in blocks):
        return "must be one or more PEM blocks '-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----'"
    if _PEM_BLOCK_RE.sub("", text).strip():
        return "has text outside its PEM CERTIFICATE blocks"
    for _, body in blocks:
        try:
            base64.b64decode("".join(body.split()), validate=True)
        except (ValueError, binascii.Error):
            return "has a CERTIFICATE block whose body is not base64"
    return None


class WebmailCertificate(ConfigModel):
    """Where the webmail certificate comes from (lesson 10: it names exactly the webmail host).

    `acme`: certbot asks for exactly webmail.<domain>, by HTTP-01 (webroot behind nginx) or
    DNS-01 (Cloudflare; token in the secret `isp:acmeCloudflareToken`). `provided`: the
    certificate chain here (public), its key in the secret `isp:webmailTlsKey`.
    """

    KEY_SECRET: ClassVar[str] = WEBMAIL_TLS_KEY  # the secret config key that holds a provided certificate's key

    source: Literal["acme", "provided"] = "acme"
    challenge: Literal["http-01", "dns-01"] = "http-01"
    # The ACME account's contact; default: organization.contactEmail.
    email: str | None = None
    certificate_pem: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else mailbox(value)

    @model_validator(mode="before")
    @classmethod
    def _pem(cls, data: Any) -> Any:
        # Checked on the raw object, so that an error shows the object, never the text.
        pem = data.get("certificatePem", data.get("certificate_pem")) if isinstance(data, dict) else None
        if pem is not None:
            problem = _certificate_chain_problem(pem, cls.KEY_SECRET) if isinstance(pem, str) else "must be text"
            if problem:
                raise ValueError(f"certificatePem {problem}")
        return data

    @model_validator(mode="after")
    def _fits_source(self) -> WebmailCertificate:
        if self.source == "provided":
            if self.certificate_pem is None:
                raise ValueError("source 'provided' needs certificatePem (the public certificate chain)")
            for key in ("challenge", "email"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key} is an ACME setting; it has no meaning with source 'provided'")
        elif self.certificate_pem is not None:
            raise ValueError("certificatePem is only for source 'provided'; with ACME the certificate is issued")
        return self

    @property
    def challenge_via_cloudflare(self) -> bool:
        return self.source == "acme" and self.challenge == "dns-01"


class WebmailStore(ConfigModel):
    """Roundcube's own database (sessions, preferences, contacts, caches), rendered by the stack.

    `sqlite`: one file, `STORE_PATH`, on the webmail host, owned by www-data (PHP-FPM) and mode
    0640, made by the delivery from Roundcube's schema when it is missing and never touched once
    it exists. The path is fixed, outside the web root (nginx never serves it) and not chosen by
    config, because the delivery hands its directory to www-data. Debian's dbconfig-common is not
    used (see components/render/roundcube.py).

    `dbconfig`: for a Roundcube already running on the database Debian's dbconfig-common set up
    (its users' contacts and preferences are there): the config includes Debian's file and the
    delivery makes no store, so adopting this program moves no data.
    """

    STORE_PATH: ClassVar[str] = "/var/lib/roundcube/db/roundcube.sqlite"

    engine: Literal["sqlite", "dbconfig"] = "sqlite"

    @property
    def path(self) -> str | None:
        """The SQLite file the delivery makes and Roundcube opens; None when dbconfig's database is used."""
        return self.STORE_PATH if self.engine == "sqlite" else None


class WebmailSettings(ConfigModel):
    """Roundcube on the `webmail` host, behind nginx, HTTPS only (lesson 10).

    `imapHost`: the name Roundcube connects to for IMAP (993) and for submission (587); default:
    the mail host's FQDN. Operators often give clients `imap.<domain>`; whichever name, the mail
    host's certificate must cover it, since PHP verifies the certificate against it. One name for
    both because our mail role runs Dovecot and Postfix on the same host with the same
    certificate: a second setting could only name a host the stack does not build.
    """

    certificate: WebmailCertificate = WebmailCertificate()
    # Shown on Roundcube's login page; default: "<organization.name> Webmail".
    product_name: PrintableText | None = Field(default=None, min_length=1, max_length=128)
    # A host name (an address or a single label is refused: a certificate names hosts).
    imap_host: DomainName | None = None
    store: WebmailStore = WebmailStore()

