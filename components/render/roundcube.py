"""Roundcube's `config.inc.php` for the webmail host (lesson 10's site; lessons 2, 4 and 11 behind it).

Webmail reads mail from our mail host over IMAP with implicit TLS (993) and sends through
submission (587, STARTTLS) with the user's own login, so SMTP AUTH and the per-account
daily limit apply to webmail exactly as to any mail client. PHP verifies the mail host's
certificate against the name given here (its default stream context: verify_peer and
verify_peer_name), so that name must be one the certificate covers. Every value is validated
and written as a PHP single-quoted string literal (backslash and quote escaped), so no value
can end the string or add PHP code.

The store (sessions, preferences, contacts, caches) is ours: `db_dsnw` names an SQLite file
the delivery creates from Roundcube's own schema (`STORE_SCHEMA`) when it is missing. Debian's
dbconfig-common file (`/etc/roundcube/debian-db-roundcube.php`) is deliberately not included:
dbconfig may have picked MySQL, or nothing (it is preseeded off where we install), and an
include could only replace the store we render; with `db_dsnw` rendered here, nothing else in
that file has any use. The one exception is a Roundcube already running on dbconfig's database
(users' contacts and preferences live there): with `store_path=None` (`isp:webmail.store.engine:
dbconfig`) the config includes Debian's file, as this program did before it rendered a store, so
upgrading our program never moves an existing installation's data.
"""

from __future__ import annotations

from typing import Any

from components.render import quoting

CONFIG_PATH = "/etc/roundcube/config.inc.php"
# The session encryption key is made on the host, once, and never leaves it.
DES_KEY_FILE = "/etc/roundcube/isp-des-key"
# Roundcube's own SQLite schema, shipped by Debian's roundcube-core (1.6: /usr/share/roundcube/SQL).
STORE_SCHEMA = "/usr/share/roundcube/SQL/sqlite.initial.sql"
# Created by PHP as www-data, readable by its group only (Roundcube's DSN parameter `mode`).
STORE_MODE = "0640"
# Debian's dbconfig-common writes an existing installation's database settings here (store `dbconfig`).
DEBIAN_DB_CONFIG = "/etc/roundcube/debian-db-roundcube.php"


def php_string(value: Any, parameter: str) -> str:
    """A PHP single-quoted literal of printable text: only `\\` and `'` need escaping there."""
    if not isinstance(value, str) or not value.isprintable() or len(value) > 256:
        raise quoting.RenderValueError(parameter, value, "must be printable text (no newlines), at most 256 characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sqlite_dsn(store_path: str) -> str:
    """Roundcube's DSN for an SQLite file: `sqlite:///` + the absolute path (so four slashes)."""
    return f"sqlite:///{quoting.absolute_path(store_path, 'store_path')}?mode={STORE_MODE}"


def render_roundcube_config(
    *,
    webmail_name: str,
    imap_host: str,
    smtp_host: str,
    product_name: str,
    store_path: str | None,
    mail_domain: str,
    imap_port: int = 993,
    smtp_port: int = 587,
    des_key_file: str = DES_KEY_FILE,
) -> str:
    """`/etc/roundcube/config.inc.php`: IMAP over TLS and authenticated submission on our mail host,
    the SQLite store at `store_path` (None: Debian's dbconfig database), new users' addresses at `mail_domain`."""
    webmail_name = quoting.fqdn(webmail_name, "webmail_name")
    imap = f"ssl://{quoting.fqdn(imap_host, 'imap_host')}:{quoting.port(imap_port, 'imap_port')}"
    smtp = f"tls://{quoting.fqdn(smtp_host, 'smtp_host')}:{quoting.port(smtp_port, 'smtp_port')}"
    product = php_string(product_name, "product_name")
    key_file = php_string(quoting.absolute_path(des_key_file, "des_key_file"), "des_key_file")
    if store_path is None:
        dbconfig = php_string(DEBIAN_DB_CONFIG, "db_config")
        store = ("// The database Debian's dbconfig-common set up here (isp:webmail.store: dbconfig).\n"
                 f"if (is_readable({dbconfig})) {{\n    include_once {dbconfig};\n}}")
    else:
        store = ("// Our own store, made by the delivery from Roundcube's schema (not Debian's dbconfig).\n"
                 f"$config['db_dsnw'] = {php_string(sqlite_dsn(store_path), 'store_path')};")
    domain = php_string(quoting.fqdn(mail_domain, "mail_domain"), "mail_domain")
    return f"""\
<?php
// Roundcube for {webmail_name}. Rendered by the ISP program; edits are overwritten.
// Mail stays on our mail host: IMAP over TLS, and sending through submission with the
// user's own login, so SMTP AUTH and the per-account daily limit apply to webmail too.
// PHP verifies the mail host's certificate for these names (no verify_peer override).
$config = [];
{store}
$config['imap_host'] = {php_string(imap, "imap_host")};
$config['smtp_host'] = {php_string(smtp, "smtp_host")};
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
// A new user's identity is <login>@{{mail_domain}}, not @<IMAP host name>.
$config['mail_domain'] = {domain};
$config['product_name'] = {product};
$config['support_url'] = '';
// HTTPS only (lesson 10): nginx redirects plain HTTP, and so does Roundcube itself.
$config['force_https'] = true;
$config['use_https'] = true;
$config['enable_installer'] = false;
$config['des_key'] = trim((string) @file_get_contents({key_file}));
"""
