"""Roundcube's config.inc.php: PHP's own linter, then PHP reads the values back exactly."""

from __future__ import annotations

import json

import pytest

from components.render.roundcube import render_roundcube_config
from tests.components.render.conftest import assert_rejected
from tests.conftest import require_tool, run_tool

ARGS = dict(webmail_name="webmail.example.net", imap_host="mail.example.net", smtp_host="mail.example.net",
            product_name="Brookfield Valley Internet Webmail")
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
    config = _php_config(tmp_path, des_key_file=str(key), db_config=str(tmp_path / "missing.php"))
    assert config == {
        "imap_host": "ssl://mail.example.net:993",
        "smtp_host": "tls://mail.example.net:587",
        "smtp_user": "%u",
        "smtp_pass": "%p",
        "product_name": "Brookfield Valley Internet Webmail",
        "support_url": "",
        "force_https": True,
        "use_https": True,
        "enable_installer": False,
        "des_key": "k3y-from-the-host",
    }


def test_debian_database_settings_are_kept(tmp_path):
    db = tmp_path / "debian-db-roundcube.php"
    db.write_text("<?php\n$config['db_dsnw'] = 'pgsql://roundcube:pw@localhost/roundcube';\n")
    config = _php_config(tmp_path, db_config=str(db))
    assert config["db_dsnw"] == "pgsql://roundcube:pw@localhost/roundcube"


@pytest.mark.parametrize("name", ["O'Brien \\ Net", "'; system('id'); //", "?> <?php echo 1; ?>", "ends in \\",
                                  "\\'", "$config['x'] = 1; ${x}", "Café Net"])
def test_any_product_name_stays_a_string(tmp_path, name):
    config = _php_config(tmp_path, product_name=name)
    assert config["product_name"] == name
    assert set(config) == {"imap_host", "smtp_host", "smtp_user", "smtp_pass", "product_name", "support_url",
                           "force_https", "use_https", "enable_installer", "des_key"}


@pytest.mark.parametrize("parameter", ["webmail_name", "imap_host", "smtp_host", "des_key_file", "db_config"])
def test_refuses_injection(parameter):
    assert_rejected(render_roundcube_config, ARGS, parameter)


def test_product_name_refuses_control_characters():
    assert_rejected(render_roundcube_config, ARGS, "product_name", ["a\nb", "a\rb", "a\x00b", "x" * 257, None])
