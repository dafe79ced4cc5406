"""Roundcube's config.inc.php: PHP's own linter, then PHP reads the values back exactly."""

from __future__ import annotations

import json

import pytest

from components.render.roundcube import STORE_SCHEMA, render_roundcube_config, sqlite_dsn
from tests.components.render.conftest import assert_rejected
from tests.conftest import require_tool, run_tool

ARGS = dict(webmail_name="webmail.example.net", imap_host="mail.example.net", smtp_host="mail.example.net",
            product_name="Brookfield Valley Internet Webmail", store_path="/var/lib/roundcube/db/roundcube.sqlite",
            mail_domain="example.net")
KEYS = {"db_dsnw", "imap_host", "smtp_host", "smtp_user", "smtp_pass", "mail_domain", "product_name", "support_url",
        "force_https", "use_https", "enable_installer", "des_key"}
# Read the rendered file the way Roundcube does (include) and print what it set.
READ_BACK = "include $argv[1]; echo json_encode($config);"


def _php_config(tmp_path, **overrides) -> dict:
    php = require_tool("php")
    path = tmp_path / "config.inc.php"
    path.write_text(render_roundcube_config(**{**ARGS, **overrides}))
    lint = run_tool(php, "-l", str(path))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = run_tool(php, "-r", READ_BACK, str(path))
    assert result.returncode == 0 and not result.stderr, result.stderr
    return json.loads(result.stdout)


def test_mail_goes_through_our_mail_host_over_tls_with_the_users_login(tmp_path):
    key = tmp_path / "des-key"
    key.write_text("k3y-from-the-host\n")
    config = _php_config(tmp_path, des_key_file=str(key), imap_host="imap.example.net",
                         smtp_host="imap.example.net")
    assert config == {
        "db_dsnw": "sqlite:////var/lib/roundcube/db/roundcube.sqlite?mode=0640",
        "imap_host": "ssl://imap.example.net:993",
        "smtp_host": "tls://imap.example.net:587",
        "smtp_user": "%u",
        "smtp_pass": "%p",
        "mail_domain": "example.net",
        "product_name": "Brookfield Valley Internet Webmail",
        "support_url": "",
        "force_https": True,
        "use_https": True,
        "enable_installer": False,
        "des_key": "k3y-from-the-host",
    }


def test_the_store_is_ours_whatever_debians_dbconfig_says(tmp_path):
    """Debian's dbconfig file (mysql on a machine where dbconfig ran) is not read: the store is the rendered one."""
    rendered = render_roundcube_config(**ARGS)
    assert "debian-db" not in rendered and "include" not in rendered and "require" not in rendered
    assert _php_config(tmp_path)["db_dsnw"] == sqlite_dsn(ARGS["store_path"])


def test_the_store_dsn_opens_the_file_roundcube_will_use(tmp_path):
    """The DSN, as Roundcube's rcube_db_sqlite parses it (sqlite:/// + absolute path), names the file made
    from Roundcube's own schema; PHP's PDO opens it and finds Roundcube's tables."""
    php = require_tool("php")
    store = tmp_path / "db" / "roundcube.sqlite"
    store.parent.mkdir()
    made = run_tool(php, "-r", '$db = new PDO("sqlite:" . $argv[1]); $db->exec(file_get_contents($argv[2]));',
                    str(store), STORE_SCHEMA)
    if made.returncode != 0:
        pytest.skip(f"Roundcube's schema is not installed here: {made.stderr.strip()}")
    dsn = sqlite_dsn(str(store))
    path = dsn.removeprefix("sqlite:///").split("?", 1)[0]
    tables = run_tool(php, "-r", '$db = new PDO("sqlite:" . $argv[1]); foreach ($db->query("SELECT name FROM '
                      'sqlite_master WHERE type = \'table\'") as $row) echo $row[0], "\\n";', path)
    assert {"users", "session", "identities", "system"} <= set(tables.stdout.split())


@pytest.mark.parametrize("name", ["O'Brien \\ Net", "'; system('id'); //", "?> <?php echo 1; ?>", "ends in \\",
                                  "\\'", "$config['x'] = 1; ${x}", "Café Net"])
def test_any_product_name_stays_a_string(tmp_path, name):
    config = _php_config(tmp_path, product_name=name)
    assert config["product_name"] == name
    assert set(config) == KEYS


@pytest.mark.parametrize("parameter", ["webmail_name", "imap_host", "smtp_host", "des_key_file", "store_path",
                                       "mail_domain"])
def test_refuses_injection(parameter):
    assert_rejected(render_roundcube_config, ARGS, parameter)


def test_product_name_refuses_control_characters():
    assert_rejected(render_roundcube_config, ARGS, "product_name", ["a\nb", "a\rb", "a\x00b", "x" * 257, None])
