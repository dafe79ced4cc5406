"""Dump calls read as the dump tools read their arguments; our own rendered job passes."""

from __future__ import annotations

import pytest
from readers import backupjobs, shellwords

from components.render.backup import render_backup_script, render_backup_service


def several(command: str) -> str | None:
    (dump,) = backupjobs.dumps(command)
    return dump.several


@pytest.mark.parametrize(("command", "all_in_one"), [
    ("pg_dumpall", True),
    ("pg_dumpall -U postgres -h /run/postgresql -f /b/all.sql", True),
    ("pg_dumpall --exclude-database=template0", True),
    ("pg_dumpall -Ug", True),  # -U takes the rest: the role is named "g"
    ("pg_dumpall -g", False),
    ("pg_dumpall --globals-only", False),
    ("pg_dumpall --globals", False),  # getopt_long accepts an unambiguous prefix
    ("pg_dumpall -gU postgres", False),
    ("pg_dumpall -U postgres --roles-only", False),
    ("pg_dumpall -t", False),
    ("pg_dump -Fc customer1", False),
    ("mysqldump --all-databases", True),
    ("mysqldump -A", True),
    ("mysqldump -Aq --single-transaction", True),
    ("mysqldump --all-d", True),
    ("mysqldump --all_databases", True),
    ("mysqldump -uAdmin shop", False),  # -u takes the rest: user "Admin"
    ("mysqldump -pA shop", False),  # -p takes the rest: password "A"
    ("mysqldump -A --skip-all-databases shop", False),
    ("mysqldump --all-databases=0 shop", False),
    ("mysqldump --databases shop blog", True),
    ("mysqldump -B shop", False),
    ("mysqldump --user backup --databases shop", False),
    ("mysqldump shop orders customers", False),  # one database, some tables
    ("mariadb-dump --single-transaction --databases -- shop", False),
    ("mysqlpump", True),
    ("mysqlpump shop", False),
])
def test_how_many_databases_go_into_one_output(command, all_in_one):
    assert (several(command) is not None) == all_in_one


@pytest.mark.parametrize("text", [
    "30 2 * * * postgres pg_dumpall > /backup/all.sql\n",
    "@daily root /usr/bin/mysqldump --all-databases | gzip > /b/all.sql.gz\n",
    "[Service]\nExecStart=/bin/sh -c 'pg_dumpall -U postgres | gzip > /b/all.gz'\n",
    "ExecStart=-/usr/sbin/runuser -u postgres -- /usr/bin/pg_dumpall\n",
    "#!/bin/sh\nset -e\nnice -n 10 sudo -u postgres pg_dumpall \\\n  --file=/b/all.sql\n",
    "su - postgres -c \"pg_dumpall > /b/all.sql\"\n",
    "if ! PGUSER=postgres pg_dumpall > x; then exit 1; fi\n",
])
def test_all_in_one_dumps_are_found_in_their_usual_places(text):
    found = backupjobs.dumps(text)
    assert [d.several is not None for d in found] == [True], found


@pytest.mark.parametrize("text", [
    "# pg_dumpall is forbidden here\n",
    'log "never run pg_dumpall"\n',
    "echo mysqldump --all-databases\n",
    "grep pg_dumpall /var/log/syslog x y z\n",
    "printf '%s' 'pg_dumpall'\n",
])
def test_mentions_are_not_dumps(text):
    assert backupjobs.dumps(text) == []


def test_unbalanced_quotes_and_junk_never_raise():
    for text in ("pg_dumpall 'oops", "\x00\x01 mysqldump -A", "{" * 500, "pg_dumpall " + "-" * 10000, "\\"):
        backupjobs.dumps(text)
    assert [d.several is not None for d in backupjobs.dumps("pg_dumpall 'unterminated")] == [True]


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_our_rendered_job_dumps_each_database_alone(engine):
    script = render_backup_script(engine=engine, backup_dir="/var/backups/db", retention_days=14)
    found = backupjobs.dumps(script)
    assert found and all(d.several is None for d in found)
    assert any(d.per_database for d in found)
    assert backupjobs.dumps(render_backup_service(engine=engine, backup_dir="/b")) == []


def test_calls_keep_their_line():
    (call,) = shellwords.find_calls("a=1\n\nfoo | pg_dumpall -U x > y\n", {"pg_dumpall"})
    assert call.line == 3 and call.args == ("-U", "x") and call.text == "pg_dumpall -U x"
