"""Roundcube on the webmail host as the stack plans it: `isp:webmail.imapHost` and `isp:webmail.store`,
from the config key to the rendered config.inc.php and the delivery's store step (run here for real)."""

from __future__ import annotations

import subprocess

import pytest

from components.config import WebmailStore, parse_stack_config
from components.render.roundcube import STORE_SCHEMA
from components.stack import plan_stack
from components.web_host import MAKE_ROUNDCUBE_STORE, WebHost
from tests.components.config.refusals import refusal
from tests.conftest import require_tool

STORE = "/var/lib/roundcube/db/roundcube.sqlite"


def _roundcube(values: dict):
    plan = plan_stack(parse_stack_config(values), lambda key: f"<secret {key}>", stack="prod",
                      stack_file="Pulumi.prod.yaml")
    (args,) = [p.args for p in plan.components if p.component is WebHost and p.args.webmail is not None]
    return args.rendered.roundcube


def _config(values: dict) -> str:
    return _roundcube(values).files[0].content


def test_by_default_roundcube_speaks_to_the_mail_hosts_own_name(prod_values):
    mail = next(h["name"] for h in prod_values["hosts"] if "mail" in h["roles"])
    config = _config(prod_values)
    assert f"$config['imap_host'] = 'ssl://{mail}.example.net:993';" in config
    assert f"$config['smtp_host'] = 'tls://{mail}.example.net:587';" in config
    assert "$config['mail_domain'] = 'example.net';" in config


def test_imap_host_names_both_imap_and_submission(prod_values):
    prod_values["webmail"] = {**prod_values.get("webmail", {}), "imapHost": "imap.example.net"}
    config = _config(prod_values)
    assert "$config['imap_host'] = 'ssl://imap.example.net:993';" in config
    assert "$config['smtp_host'] = 'tls://imap.example.net:587';" in config


def test_the_store_is_sqlite_at_a_fixed_path_by_default(prod_values):
    cfg = parse_stack_config(prod_values)
    assert cfg.webmail.store == WebmailStore() and cfg.webmail.store.engine == "sqlite"
    assert cfg.webmail.store.path == STORE
    roundcube = _roundcube(prod_values)
    assert f"$config['db_dsnw'] = 'sqlite:///{STORE}?mode=0640';" in roundcube.files[0].content
    assert ["sh", "-c", MAKE_ROUNDCUBE_STORE, "make-roundcube-store", STORE, STORE_SCHEMA] in roundcube.reload


def test_an_installation_on_debians_dbconfig_keeps_its_database(prod_values, tmp_path):
    """`store: dbconfig` is for a Roundcube whose users' contacts already live in dbconfig's database:
    Debian's file is included, no db_dsnw is rendered and no store is made, and PHP reads that file's DSN."""
    prod_values["webmail"] = {**prod_values.get("webmail", {}), "store": {"engine": "dbconfig"}}
    roundcube = _roundcube(prod_values)
    config = roundcube.files[0].content
    assert "db_dsnw" not in config and "include_once '/etc/roundcube/debian-db-roundcube.php';" in config
    assert not any(MAKE_ROUNDCUBE_STORE in step for step in roundcube.reload)
    php = require_tool("php")
    debian = tmp_path / "debian-db-roundcube.php"
    debian.write_text("<?php\n$config['db_dsnw'] = 'mysql://roundcube:pw@localhost/roundcube';\n")
    script = tmp_path / "config.inc.php"
    script.write_text(config.replace("/etc/roundcube/debian-db-roundcube.php", str(debian)))
    read = subprocess.run([php, "-r", 'include $argv[1]; echo $config["db_dsnw"];', str(script)],
                          capture_output=True, text=True, timeout=30)
    assert read.stdout == "mysql://roundcube:pw@localhost/roundcube", read.stderr


@pytest.mark.parametrize(("webmail", "fragments"), [
    ({"imapHost": "10.0.0.25"}, ["isp:webmail.imapHost", "fully qualified domain name"]),
    ({"imapHost": "mail"}, ["isp:webmail.imapHost", "fully qualified domain name"]),
    ({"imapHost": "Mail.Example.Net"}, ["isp:webmail.imapHost"]),
    ({"imapHost": "mail.example.net:993"}, ["isp:webmail.imapHost"]),
    ({"imapHost": "mail.example.net'; system('id'); //"}, ["isp:webmail.imapHost"]),
    ({"store": {"engine": "mysql"}}, ["isp:webmail.store.engine", "mysql"]),
    ({"store": {"path": "/etc/passwd"}}, ["isp:webmail.store.path"]),
])
def test_refusals_name_the_key(prod_values, webmail, fragments):
    prod_values["webmail"] = {**prod_values.get("webmail", {}), **webmail}
    refusal(prod_values, *fragments)


def _make_store(store, schema=STORE_SCHEMA) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", MAKE_ROUNDCUBE_STORE, "make-roundcube-store", str(store), str(schema)],
                          capture_output=True, text=True, timeout=30)


def _tables(php: str, store) -> set[str]:
    listing = subprocess.run([php, "-r", '$db = new PDO("sqlite:" . $argv[1]); foreach ($db->query("SELECT name '
                              'FROM sqlite_master WHERE type = \'table\'") as $row) echo $row[0], "\\n";', str(store)],
                             capture_output=True, text=True, timeout=30, check=True)
    return set(listing.stdout.split())


def test_the_store_is_made_from_roundcubes_schema_once_and_never_touched_again(tmp_path):
    php = require_tool("php")
    if subprocess.run(["id", "www-data"], capture_output=True).returncode != 0:
        pytest.skip("no www-data user here (Debian's PHP-FPM runs as it)")
    store = tmp_path / "db" / "roundcube.sqlite"
    made = _make_store(store)
    assert made.returncode == 0, made.stderr
    assert {"users", "session", "identities", "system"} <= _tables(php, store)
    assert oct(store.stat().st_mode & 0o777) == "0o640" and oct(store.parent.stat().st_mode & 0o777) == "0o750"
    # An existing store is the users': the step leaves it byte for byte, even with no schema around.
    store.write_bytes(b"the users' data")
    again = _make_store(store, tmp_path / "no-schema.sql")
    assert again.returncode == 0 and store.read_bytes() == b"the users' data"
    assert [p.name for p in store.parent.iterdir()] == ["roundcube.sqlite"]  # no half-made file left


def test_without_the_schema_the_store_step_fails_and_leaves_nothing(tmp_path):
    store = tmp_path / "db" / "roundcube.sqlite"
    failed = _make_store(store, tmp_path / "no-schema.sql")
    assert failed.returncode != 0 and "roundcube-core" in failed.stderr
    assert not store.exists()
