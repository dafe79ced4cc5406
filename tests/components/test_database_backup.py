"""DatabaseBackup under Pulumi's mocks: what reaches the db host, checked how, in which order."""

from __future__ import annotations

import pulumi
import pytest

from components.config import DatabaseSettings
from components.database_backup import DatabaseBackup, DatabaseBackupArgs
from components.delivery import HostConnection, ManagedFile, swap_text
from tests.conftest import require_tool, run_tool


def _build(engine: str, **settings) -> None:
    _build_all(DatabaseSettings(engine=engine, **settings))


def _build_all(*databases: DatabaseSettings) -> None:
    @pulumi.runtime.test
    def run():
        DatabaseBackup(
            "db1",
            DatabaseBackupArgs(
                connection=HostConnection(host="db1.example.net", user="deploy",
                                          private_key=pulumi.Output.secret("KEY")),
                fqdn="db1.example.net",
                databases=databases,
            ),
        )
        return pulumi.Output.from_input(1)

    run()


def _files(mocks) -> dict[str, str]:
    return {r.inputs["remotePath"]: r.inputs["source"].text for r in mocks.resources
            if r.type == "command:remote:CopyToRemote"}


def _install(mocks, name: str):
    return next(r for r in mocks.resources if r.type == "command:remote:Command" and r.name == name)


def test_postgresql_job_files_checks_and_order(mocks, tmp_path):
    _build("postgresql", retention_days=30, backup_dir="/srv/dumps", schedule="*-*-* 03:15:00")
    files = _files(mocks)
    assert set(files) == {"/usr/local/sbin/isp-staging/isp-db-backup",
                          "/etc/systemd/system/isp-staging/isp-db-backup.service",
                          "/etc/systemd/system/isp-staging/isp-db-backup.timer"}
    script = files["/usr/local/sbin/isp-staging/isp-db-backup"]
    assert "backup_dir='/srv/dumps'" in script and "retention_days=30" in script and "pg_dump --format=custom" in script
    assert "OnCalendar=*-*-* 03:15:00\n" in files["/etc/systemd/system/isp-staging/isp-db-backup.timer"]
    # The delivered script is what bash accepts.
    path = tmp_path / "isp-db-backup"
    path.write_text(script)
    assert run_tool(require_tool("bash"), "-n", str(path)).returncode == 0

    script_install = _install(mocks, "db1-backup-script-install")
    assert "bash -n /usr/local/sbin/isp-staging/isp-db-backup ||" in script_install.inputs["create"]
    assert swap_text(ManagedFile("/usr/local/sbin/isp-db-backup", "", mode="0755")) in script_install.inputs["create"]
    timer_install = _install(mocks, "db1-backup-timer-install")
    created = timer_install.inputs["create"]
    assert ("systemd-analyze verify /etc/systemd/system/isp-staging/isp-db-backup.service "
            "/etc/systemd/system/isp-staging/isp-db-backup.timer ||") in created
    assert "systemctl daemon-reload && systemctl enable --now isp-db-backup.timer" in created
    # systemd-analyze verify needs the script installed: the units wait for it.
    timer_copies = [r for r in mocks.resources if r.name.startswith("db1-backup-timer-")
                    and r.type == "command:remote:CopyToRemote"]
    assert timer_copies
    units = next(r for r in mocks.resources if r.name == "db1-backup-timer")
    assert any(d.endswith("::db1-backup-script-install") for d in units.depends)


def test_mariadb_job(mocks):
    _build("mariadb")
    script = _files(mocks)["/usr/local/sbin/isp-staging/isp-db-backup"]
    assert "mysqldump --single-transaction" in script and "pg_dump" not in script
    assert "User=root\n" in _files(mocks)["/etc/systemd/system/isp-staging/isp-db-backup.service"]


def test_the_component_tells_the_pack_which_host_runs_a_database(mocks):
    _build("postgresql")
    component = next(r for r in mocks.resources if r.type == "isp:db:DatabaseBackup")
    assert component.inputs["databaseHosts"] == [{"host": "db1.example.net", "engine": "postgresql"}]


def test_bad_settings_never_reach_a_host():
    with pytest.raises(ValueError):
        DatabaseSettings(schedule="daily\nExecStart=/bin/sh")


BOTH = (DatabaseSettings(engine="postgresql"),
        DatabaseSettings(engine="mariadb", backup_dir="/var/backups/mariadb", schedule="*-*-* 03:00:00"))


def test_a_host_with_both_engines_gets_a_job_each_the_first_keeping_its_names(mocks):
    _build_all(*BOTH)
    files = _files(mocks)
    assert set(files) == {f"{d}/isp-staging/{name}" for d, names in (
        ("/usr/local/sbin", ("isp-db-backup", "isp-db-backup-mariadb")),
        ("/etc/systemd/system", ("isp-db-backup.service", "isp-db-backup.timer",
                                 "isp-db-backup-mariadb.service", "isp-db-backup-mariadb.timer"))) for name in names}
    postgresql, mariadb = (files[f"/usr/local/sbin/isp-staging/{n}"]
                           for n in ("isp-db-backup", "isp-db-backup-mariadb"))
    assert "pg_dump --format=custom" in postgresql and "backup_dir='/var/backups/db'" in postgresql
    assert "mysqldump --single-transaction" in mariadb and "backup_dir='/var/backups/mariadb'" in mariadb
    assert "printf 'isp-db-backup-mariadb: %s\\n'" in mariadb and "printf 'isp-db-backup: %s\\n'" in postgresql
    service = files["/etc/systemd/system/isp-staging/isp-db-backup-mariadb.service"]
    assert "ExecStart=/usr/local/sbin/isp-db-backup-mariadb\n" in service and "User=root\n" in service
    timer = files["/etc/systemd/system/isp-staging/isp-db-backup-mariadb.timer"]
    assert "Unit=isp-db-backup-mariadb.service\n" in timer and "OnCalendar=*-*-* 03:00:00\n" in timer
    # Children per engine, under the component; each engine's units wait for its own script.
    component = next(r for r in mocks.resources if r.type == "isp:db:DatabaseBackup")
    children = {r.name for r in mocks.resources if r.type == "isp:delivery:ServiceConfig"}
    assert children == {"db1-backup-script", "db1-backup-timer", "db1-mariadb-backup-script",
                        "db1-mariadb-backup-timer"}
    assert all(r.parent.endswith("$isp:db:DatabaseBackup::db1") for r in mocks.resources if r.name in children)
    units = next(r for r in mocks.resources if r.name == "db1-mariadb-backup-timer")
    assert any(d.endswith("::db1-mariadb-backup-script-install") for d in units.depends)
    enable = _install(mocks, "db1-mariadb-backup-timer-install").inputs["create"]
    assert "systemctl enable --now isp-db-backup-mariadb.timer" in enable
    assert component.inputs["databaseHosts"] == [{"host": "db1.example.net", "engine": "postgresql"},
                                                 {"host": "db1.example.net", "engine": "mariadb"}]


def test_the_first_listed_engine_keeps_the_plain_names(mocks):
    _build_all(*reversed(BOTH))
    files = _files(mocks)
    assert "mysqldump" in files["/usr/local/sbin/isp-staging/isp-db-backup"]
    assert "pg_dump" in files["/usr/local/sbin/isp-staging/isp-db-backup-postgresql"]


def test_an_engine_twice_or_none_registers_nothing(mocks):
    for databases in ((BOTH[1], BOTH[1]), ()):
        with pytest.raises(ValueError):
            _ = DatabaseBackupArgs(connection=HostConnection(host="db1.example.net", user="deploy", private_key="K"),
                                   fqdn="db1.example.net", databases=databases).rendered
    assert not mocks.resources
