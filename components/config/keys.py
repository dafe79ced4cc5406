"""The names of the stack's `isp:` config keys that live outside the model."""

CONFIG_NAMESPACE = "isp"
# Secret `isp:` keys, read with `pulumi.Config("isp").require_secret` and kept out of the model.
WEBMAIL_TLS_KEY = "webmailTlsKey"  # the provided webmail certificate's private key (PEM)
ACME_CLOUDFLARE_TOKEN = "acmeCloudflareToken"  # a token allowed DNS:Edit only, for ACME DNS-01
MTA_STS_TLS_KEY = "mtaStsTlsKey"  # the provided MTA-STS certificate's private key (PEM)
SECRET_KEYS = ("sshPrivateKey", WEBMAIL_TLS_KEY, ACME_CLOUDFLARE_TOKEN, MTA_STS_TLS_KEY)
# Besides these, each host's `sshKeyConfig` and each DKIM key's `privateKeyConfig` names a secret key
# (default for a DKIM key: DKIM_KEY_PREFIX + its selector, components/config/mail_auth.py).
DKIM_KEY_PREFIX = "dkimKey_"
