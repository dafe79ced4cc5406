"""The one typed view of a stack's `isp:` configuration.

Every `isp:` key in `Pulumi.<stack>.yaml` is parsed once into frozen pydantic models:
`fields` (the grammar of single values), `model` (the stack's settings and their
consistency), `webmail`, `zones_from` (zones kept in files), `keys` (secret key names) and `loading`
(reading the keys, explaining what is wrong).
"""

from components.config.keys import ACME_CLOUDFLARE_TOKEN, CONFIG_NAMESPACE, SECRET_KEYS, WEBMAIL_TLS_KEY
from components.config.loading import ConfigError, load_stack_config, parse_stack_config
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
from components.config.webmail import WebmailCertificate, WebmailSettings

__all__ = [
    "ACME_CLOUDFLARE_TOKEN", "CONFIG_NAMESPACE", "SECRET_KEYS", "WEBMAIL_TLS_KEY", "ConfigError", "CustomerPool",
    "DatabaseSettings", "DnsSettings", "GatewaySettings", "Host", "MailSettings", "Networks", "Organization",
    "Record", "StackConfig", "WebmailCertificate", "WebmailSettings", "Zone", "load_stack_config",
    "parse_stack_config",
]
