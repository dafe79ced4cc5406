"""The one typed view of a stack's `isp:` configuration.

Every `isp:` key in `Pulumi.<stack>.yaml` is parsed once into frozen pydantic models:
`fields` (the grammar of single values), `model` (the stack's settings and their
consistency), `webmail`, `mail_auth` (DKIM, MTA-STS, TLS-RPT, each zone's DMARC policy), `zones_from`
(zones kept in files), `keys` (secret key names) and `loading` (reading the keys, explaining what is wrong).
"""

from components.config.keys import (
    ACME_CLOUDFLARE_TOKEN,
    CONFIG_NAMESPACE,
    MTA_STS_TLS_KEY,
    SECRET_KEYS,
    WEBMAIL_TLS_KEY,
)
from components.config.loading import ConfigError, load_stack_config, parse_stack_config
from components.config.mail_auth import (
    DkimKey,
    DkimSettings,
    MtaStsCertificate,
    MtaStsSettings,
    TlsRptSettings,
    dmarc_policy,
    hosted_mail_domains,
)
from components.config.model import (
    CustomerPool,
    DatabaseSettings,
    DnsSettings,
    GatewaySettings,
    Host,
    MailSettings,
    Networks,
    Organization,
    Record,
    StackConfig,
    Zone,
)
from components.config.webmail import WebmailCertificate, WebmailSettings, WebmailStore

__all__ = [
    "ACME_CLOUDFLARE_TOKEN", "CONFIG_NAMESPACE", "MTA_STS_TLS_KEY", "SECRET_KEYS", "WEBMAIL_TLS_KEY", "ConfigError",
    "CustomerPool", "DatabaseSettings", "DkimKey", "DkimSettings", "DnsSettings", "GatewaySettings", "Host",
    "MailSettings", "MtaStsCertificate", "MtaStsSettings", "Networks", "Organization", "Record", "StackConfig",
    "TlsRptSettings", "WebmailCertificate", "WebmailSettings", "WebmailStore", "Zone", "dmarc_policy",
    "hosted_mail_domains", "load_stack_config", "parse_stack_config",
]
