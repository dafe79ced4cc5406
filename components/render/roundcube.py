"""Roundcube's `config.inc.php` for the webmail host (lesson 10's site; lessons 2 and 4 behind it).

Webmail reads mail from our mail host over IMAP with implicit TLS (993) and sends through
submission (587, STARTTLS) with the user's own login, so SMTP AUTH and the per-account
daily limit apply to webmail exactly as to any mail client. Every value is validated and
written as a PHP single-quoted string literal (backslash and quote escaped), so no value can
end the string or add PHP code.
"""

from __future__ import annotations

from typing import Any

from components.render import quoting

CONFIG_PATH = "/etc/roundcube/config.inc.php"
# Debian's dbconfig-common writes the database settings here; kept, never rendered.
DEBIAN_DB_CONFIG = "/etc/roundcube/debian-db-roundcube.php"
# The session encryption key is made on the host, once, and never leaves it.
DES_KEY_FILE = "/etc/roundcube/isp-des-key"


def php_string(value: Any, parameter: str) -> str:
    """A PHP single-quoted literal of printable text: only `\\` and `'` need escaping there."""
    if not isinstance(value, str) or not value.isprintable() or len(value) > 256:
        raise quoting.RenderValueError(parameter, value, "must be printable text (no newlines), at most 256 characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_roundcube_config(
    *,
    webmail_name: str,
    imap_host: str,
    smtp_host: str,
    product_name: str,
    imap_port: int = 993,
    smtp_port: int = 587,
    des_key_file: str = DES_KEY_FILE,
    db_config: str = DEBIAN_DB_CONFIG,
) -> str:
    """`/etc/roundcube/config.inc.php`: IMAP over TLS and authenticated submission on our mail host."""
    webmail_name = quoting.fqdn(webmail_name, "webmail_name")
    imap = f"ssl://{quoting.fqdn(imap_host, 'imap_host')}:{quoting.port(imap_port, 'imap_port')}"
    smtp = f"tls://{quoting.fqdn(smtp_host, 'smtp_host')}:{quoting.port(smtp_port, 'smtp_port')}"
    product = php_string(product_name, "product_name")
    key_file = php_string(quoting.absolute_path(des_key_file, "des_key_file"), "des_key_file")
    db_file = php_string(quoting.absolute_path(db_config, "db_config"), "db_config")
    return f"""\
<?php
// Roundcube for {webmail_name}. Rendered by the ISP program; edits are overwritten.
// Mail stays on our mail host: IMAP over TLS, and sending through submission with the
// user's own login, so SMTP AUTH and the per-account daily limit apply to webmail too.
$config = [];
if (is_readable({db_file})) {{
    include_once {db_file};  // database settings from Debian's dbconfig-common
}}
$config['imap_host'] = {php_string(imap, "imap_host")};
$config['smtp_host'] = {php_string(smtp, "smtp_host")};
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['product_name'] = {product};
$config['support_url'] = '';
// HTTPS only (lesson 10): nginx redirects plain HTTP, and so does Roundcube itself.
$config['force_https'] = true;
$config['use_https'] = true;
$config['enable_installer'] = false;
$config['des_key'] = trim((string) @file_get_contents({key_file}));
"""
