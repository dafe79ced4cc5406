"""one-dump-per-database: all-in-one dumps anywhere, and database hosts without a scheduled job."""

from __future__ import annotations

from pack_builders import SECRET, SIG, UNKNOWN, component, copy_file, resource, run, view_of
from rules import backup as backup_rules

from components.render.backup import render_backup_script, render_backup_service, render_backup_timer

HOST = "db1.example.net"
PG_CONF = "listen_addresses = 'localhost'\n"


def command(host: str, create: str, name: str = "run-backup"):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "k"}},
             "create": create}
    return resource("command:remote:Command", name, props)


def our_job(host: str = HOST, engine: str = "postgresql") -> list:
    """What DatabaseBackup delivers: the script, service and timer, staged beside their real paths."""
    return [
        copy_file(host, "/usr/local/sbin/isp-staging/isp-db-backup",
                  render_backup_script(engine=engine, backup_dir="/var/backups/db", retention_days=14)),
        copy_file(host, "/etc/systemd/system/isp-staging/isp-db-backup.service",
                  render_backup_service(engine=engine, backup_dir="/var/backups/db")),
        copy_file(host, "/etc/systemd/system/isp-staging/isp-db-backup.timer",
                  render_backup_timer(schedule="*-*-* 02:30:00")),
    ]


def evidence(host: str = HOST, engine: str = "postgresql"):
    return component("isp:db:DatabaseBackup", "db1", {"databaseHosts": [{"host": host, "engine": engine}]})


def findings(*resources):
    return run(backup_rules.one_dump_per_database, view_of(*resources))


def test_our_job_on_an_evidenced_database_host_passes():
    assert findings(evidence(), *our_job()) == ([], None)
    assert findings(evidence(engine="mariadb"), *our_job(engine="mariadb")) == ([], None)


def test_database_host_without_a_job():
    (message,), _ = findings(evidence(), copy_file("www.example.net", "/etc/nginx/conf.d/a.conf", "server {}\n"))
    assert message.startswith("database host db1.example.net (a postgresql host of the stack) has no scheduled "
                              "per-database backup job")


def test_database_config_marks_a_database_host():
    (message,), _ = findings(copy_file(HOST, "/etc/postgresql/15/main/postgresql.conf", PG_CONF))
    assert "(PostgreSQL config /etc/postgresql/15/main/postgresql.conf)" in message
    (message,), _ = findings(copy_file(HOST, "/etc/mysql/mariadb.conf.d/50-server.cnf", "[mysqld]\n"))
    assert "MySQL/MariaDB config /etc/mysql/mariadb.conf.d/50-server.cnf" in message
    assert findings(copy_file(HOST, "/etc/postgresql/15/main/postgresql.conf", PG_CONF), *our_job()) == ([], None)


def test_a_job_must_be_scheduled():
    script = copy_file(HOST, "/usr/local/bin/backup.sh", "#!/bin/sh\nfor db in a b; do pg_dump -Fc \"$db\"; done\n")
    conf = copy_file(HOST, "/etc/postgresql/15/main/postgresql.conf", PG_CONF)
    assert len(findings(conf, script)[0]) == 1  # a script nobody runs
    cron = copy_file(HOST, "/etc/cron.d/backup", "30 2 * * * postgres /usr/local/bin/backup.sh\n")
    assert findings(conf, script, cron) == ([], None)
    # A service without a timer runs only when someone starts it.
    service = copy_file(HOST, "/etc/systemd/system/backup.service", "[Service]\nExecStart=/usr/local/bin/backup.sh\n")
    assert len(findings(conf, script, service)[0]) == 1
    timer = copy_file(HOST, "/etc/systemd/system/nightly.timer", "[Timer]\nOnCalendar=daily\nUnit=backup.service\n")
    assert findings(conf, script, service, timer) == ([], None)
    # The job must be on the database host itself.
    elsewhere = copy_file("backup.example.net", "/etc/cron.d/backup", "0 1 * * * root pg_dump -h db1 shop\n")
    assert len(findings(conf, elsewhere)[0]) == 1


def test_cron_daily_and_crontab_commands_are_schedules():
    conf = copy_file(HOST, "/etc/mysql/my.cnf", "[mysqld]\n")
    daily = copy_file(HOST, "/etc/cron.daily/dump", "#!/bin/sh\nmysqldump --single-transaction --databases shop\n")
    assert findings(conf, daily) == ([], None)
    crontab = command(HOST, "echo '0 2 * * * pg_dump -Fc -f /b/shop.dump shop' | crontab -u postgres -")
    pg_conf = copy_file(HOST, "/etc/postgresql/15/main/postgresql.conf", PG_CONF)
    assert findings(pg_conf, crontab) == ([], None)
    # A MySQL host whose only job dumps PostgreSQL has no MySQL backup.
    (message,), _ = findings(conf, crontab)
    assert "runs MySQL/MariaDB, but none of its scheduled backup jobs (command run-backup on" in message


def test_all_in_one_dumps_anywhere():
    cron = copy_file(HOST, "/etc/cron.d/isp-staging/backup", "# nightly\n30 2 * * * postgres pg_dumpall > /b/all.sql\n")
    (message,), _ = findings(cron)
    assert message.startswith("/etc/cron.d/isp-staging/backup on db1.example.net (line 2: `pg_dumpall`): pg_dumpall "
                              "without --globals-only writes every database into one dump, so restoring one customer "
                              "means the whole dump; dump each database with pg_dump -Fc")
    (message,), _ = findings(command(HOST, "mysqldump --all-databases --single-transaction > /b/all.sql"))
    assert message.startswith("command run-backup on db1.example.net (line 1: `mysqldump --all-databases")
    assert "one mysqldump --single-transaction --databases <db> per database" in message
    (message,), _ = findings(command(HOST, "echo '0 2 * * * pg_dumpall -f /b/all.sql' | crontab -u postgres -"))
    assert "pg_dumpall without --globals-only" in message


def test_an_all_in_one_job_is_still_no_per_database_job():
    conf = copy_file(HOST, "/etc/postgresql/15/main/postgresql.conf", PG_CONF)
    cron = copy_file(HOST, "/etc/cron.d/backup", "30 2 * * * postgres pg_dumpall > /b/all.sql\n")
    messages, _ = findings(conf, cron)
    assert len(messages) == 2 and "has no scheduled per-database backup job" in messages[1]


def test_unknown_files_wait_for_up():
    unknown = resource("command:remote:CopyToRemote", "later", {
        "connection": {"host": HOST, "user": "deploy"}, "source": UNKNOWN, "remotePath": "/etc/cron.d/backup"})
    assert findings(evidence(), unknown) == ([], None)


def test_nothing_to_judge():
    assert findings(copy_file("www.example.net", "/etc/nginx/conf.d/a.conf", "server {}\n")) == (
        [], "the stack has no database host and delivers no database dump")


def test_a_host_spelled_by_name_and_by_address_is_one_database_host():
    from pack_builders import record, zone

    z = zone("example.net")
    address_record = record(HOST, "A", "198.51.100.54", zone_resource=z)
    config_by_address = copy_file("198.51.100.54", "/etc/postgresql/15/main/postgresql.conf", PG_CONF)
    assert findings(z, address_record, config_by_address, *our_job()) == ([], None)
    (message,), _ = findings(z, address_record, config_by_address)
    assert message.startswith(f"database host {HOST} (198.51.100.54) (PostgreSQL config")


def both_engines(host: str = HOST, *, mariadb_script: str | None = None) -> list:
    """What DatabaseBackup delivers to a host with `databases: [postgresql, mariadb]`: two jobs."""
    from components.config import DatabaseSettings
    from components.database_backup import DatabaseBackupArgs, render_database_backup
    from components.delivery import HostConnection

    args = DatabaseBackupArgs(connection=HostConnection(host=host, user="deploy", private_key="k"), fqdn=host,
                              databases=(DatabaseSettings(), DatabaseSettings(engine="mariadb",
                                                                              backup_dir="/var/backups/mariadb")))
    delivered = []
    for job in render_database_backup(args).jobs:
        for managed in job.script.files + job.timer.files:
            text = mariadb_script if mariadb_script is not None and managed.role == "backup-script" and \
                job.job.engine == "mariadb" else managed.content
            staged = managed.path.rsplit("/", 1)
            delivered.append(copy_file(host, f"{staged[0]}/isp-staging/{staged[1]}", text))
    evidence = component("isp:db:DatabaseBackup", "db1", {"databaseHosts": [
        {"host": host, "engine": "postgresql"}, {"host": host, "engine": "mariadb"}]})
    return [evidence, *delivered]


def _path(resource) -> str:
    return resource.props["remotePath"] if resource.resource_type == "command:remote:CopyToRemote" else ""


def test_a_host_with_both_engines_and_a_job_each_passes():
    resources = both_engines()
    paths = sorted(_path(r) for r in resources[1:])
    assert "/usr/local/sbin/isp-staging/isp-db-backup-mariadb" in paths and len(paths) == 6
    assert findings(*resources) == ([], None)


def test_a_host_with_both_engines_whose_mariadb_job_dumps_all_in_one():
    all_in_one = ("#!/bin/bash\n"
                  "mysqldump --all-databases --single-transaction | gzip > /var/backups/mariadb/all.sql.gz\n")
    messages, _ = findings(*both_engines(mariadb_script=all_in_one))
    assert len(messages) == 2, messages
    assert messages[0].startswith("/usr/local/sbin/isp-staging/isp-db-backup-mariadb on db1.example.net (line 2: "
                                  "`mysqldump --all-databases")
    # The PostgreSQL job still dumps per database, but no job dumps MariaDB's databases one by one.
    assert messages[1].startswith("database host db1.example.net (a postgresql host of the stack; a mariadb host of "
                                  "the stack) runs MySQL/MariaDB, but none of its scheduled backup jobs")
    assert "/usr/local/sbin/isp-staging/isp-db-backup on db1.example.net" in messages[1]


def test_a_host_with_both_engines_and_one_job_lacks_the_other():
    only_postgresql = [r for r in both_engines() if "mariadb" not in _path(r)]
    (message,), _ = findings(*only_postgresql)
    assert "runs MySQL/MariaDB, but none of its scheduled backup jobs" in message
    assert "one mysqldump --single-transaction --databases <db> per database" in message
    # A pg_dumpall-only PostgreSQL job on a two-engine host: the all-in-one dump, and PostgreSQL left unjudged.
    pg_all = "#!/bin/bash\npg_dumpall -f /var/backups/db/all.sql\n"
    messages, _ = findings(*[r for r in both_engines()
                             if _path(r) != "/usr/local/sbin/isp-staging/isp-db-backup"],
                           copy_file(HOST, "/usr/local/sbin/isp-staging/isp-db-backup", pg_all))
    assert len(messages) == 2 and "pg_dumpall without --globals-only" in messages[0]
    assert "runs PostgreSQL, but none of its scheduled backup jobs" in messages[1]
