"""A db host's `databases:` (components/config/database.py): both engines on one host, and each refusal's rule."""

from __future__ import annotations

import pytest

from components.config import DatabaseSettings, parse_stack_config
from tests.components.config.refusals import refusal
from tests.conftest import stack_values

MARIADB = {"engine": "mariadb", "backupDir": "/var/backups/mariadb", "retentionDays": 7}


def _db(values: dict) -> dict:
    return next(h for h in values["hosts"] if "db" in h["roles"])


def _with_databases(values: dict, databases: list) -> dict:
    _db(values).pop("database", None)
    _db(values)["databases"] = databases
    return values


def test_the_lab_runs_both_engines_in_the_order_listed():
    cfg = parse_stack_config(stack_values("lab"))
    (db,) = cfg.hosts_with("db")
    postgresql, mariadb = cfg.databases_of(db)
    assert postgresql == DatabaseSettings(engine="postgresql", retention_days=14)  # backupDir's default kept
    assert (mariadb.engine, mariadb.backup_dir, mariadb.retention_days) == ("mariadb", "/var/backups/mariadb", 14)


def test_databases_lists_engines_and_database_stays_their_one_engine_shorthand(prod_values):
    cfg = parse_stack_config(_with_databases(prod_values, [{"engine": "postgresql"}, MARIADB]))
    (db,) = cfg.hosts_with("db")
    assert [d.engine for d in cfg.databases_of(db)] == ["postgresql", "mariadb"]
    assert cfg.databases_of(db)[1].backup_dir == "/var/backups/mariadb" and db.database is None
    # One entry in `databases` is the same host as `database:` with it.
    one = parse_stack_config(_with_databases(stack_values("prod"), [{"engine": "postgresql", "retentionDays": 14}]))
    assert one.databases_of(one.hosts_with("db")[0]) == parse_stack_config(stack_values("prod")).databases_of(
        parse_stack_config(stack_values("prod")).hosts_with("db")[0])


def test_both_keys_at_once_are_refused(prod_values):
    _db(prod_values)["databases"] = [MARIADB]
    refusal(prod_values, "isp:hosts[5]: database (engine 'postgresql') and databases (engines ['mariadb']) are both "
                         "set", "(rule: database-or-databases)")


def test_an_engine_listed_twice_is_refused(prod_values):
    _with_databases(prod_values, [MARIADB, {"engine": "postgresql"}, {**MARIADB, "backupDir": "/srv/mariadb"}])
    refusal(prod_values, "isp:hosts[5]: databases[2].engine 'mariadb' is listed again (databases[0])",
            "(rule: one-job-per-engine)")


@pytest.mark.parametrize(("postgresql_dir", "mariadb_dir", "where"), [
    ("/var/backups/db", "/var/backups/db", "is also databases[0].backupDir (postgresql)"),
    ("/var/backups/db", "/var/backups/db/mariadb", "lies inside databases[0].backupDir '/var/backups/db' (postgresql)"),
    ("/srv/dumps/pg", "/srv/dumps", "lies around databases[0].backupDir '/srv/dumps/pg' (postgresql)"),
])
def test_two_engines_sharing_a_backup_directory_are_refused(prod_values, postgresql_dir, mariadb_dir, where):
    _with_databases(prod_values, [{"engine": "postgresql", "backupDir": postgresql_dir},
                                  {"engine": "mariadb", "backupDir": mariadb_dir}])
    refusal(prod_values, f"isp:hosts[5]: databases[1].backupDir '{mariadb_dir}' (mariadb) {where}",
            "(rule: backup-dirs-apart)")


def test_neighbouring_directories_are_apart(prod_values):
    _with_databases(prod_values, [{"engine": "postgresql"}, {"engine": "mariadb", "backupDir": "/var/backups/db2"}])
    cfg = parse_stack_config(prod_values)
    assert [d.backup_dir for d in cfg.databases_of(cfg.hosts_with("db")[0])] == ["/var/backups/db", "/var/backups/db2"]


def test_an_empty_list_a_bad_entry_and_a_host_without_the_role_are_refused(prod_values):
    refusal(_with_databases(prod_values, []), "isp:hosts[5].databases = []", "at least 1 item")
    refusal(_with_databases(stack_values("prod"), [{"engine": "oracle"}]), "isp:hosts[5].databases[0].engine",
            "oracle")
    refusal(_with_databases(stack_values("prod"), [{"engine": "mariadb", "backupDir": "/etc"}]),
            "isp:hosts[5].databases[0].backupDir")
    values = stack_values("prod")
    values["hosts"][1]["databases"] = [MARIADB]
    refusal(values, "hosts[1] (ns1).databases is set but the host has no 'db' role")
