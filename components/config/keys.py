"""The names of the stack's `isp:` config keys that live outside the model."""

CONFIG_NAMESPACE = "isp"
# Secret `isp:` keys, read with `pulumi.Config("isp").require_secret` and kept out of the model.
WEBMAIL_TLS_KEY = "webmailTlsKey"  # the provided webmail certificate's private key (PEM)
ACME_CLOUDFLARE_TOKEN = "acmeCloudflareToken"  # a token allowed DNS:Edit only, for ACME DNS-01
SECRET_KEYS = ("sshPrivateKey", WEBMAIL_TLS_KEY, ACME_CLOUDFLARE_TOKEN)
