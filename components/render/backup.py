"""The backup job of a `db` host: a bash script, its systemd service and its timer (lesson 9).

Restoring one customer's database from a single multi-gigabyte dump is misery, so every
database gets its own dated, compressed file, restorable alone:

- PostgreSQL: `pg_dump --format=custom` per database (`pg_restore --create -d postgres FILE`
  brings one back) plus `pg_dumpall --globals-only` for roles and tablespaces.
- MariaDB: one `mysqldump --single-transaction --databases DB | gzip` per database (the
  file recreates its database: `gunzip -c FILE | mysql`); the `mysql` schema, which holds
  the users and grants, is one of them.

The databases are listed when the job runs, never rendered in, so a customer database
created yesterday is in tonight's backup. Every database is tried; the job exits non-zero
if any failed (systemd marks the unit failed). Each run writes `<backupDir>/<UTC time>/`
with a `SHA256SUMS` manifest; it is built as `.<UTC time>.partial` and renamed when done.
Runs older than `retention_days` are removed only after a run in which everything
succeeded, so a failing job never deletes the last good backups.

One job per engine. A host running one engine has the job `isp-db-backup`
(`/usr/local/sbin/isp-db-backup`, `isp-db-backup.service`, `isp-db-backup.timer`); on a host
running several (`databases:`), the first listed keeps that name and each further one is named by its
engine (`isp-db-backup-mariadb`, ...; `backup_jobs`). The delivery never deletes a file, so renaming a
running job when an engine is added would leave the old timer firing beside the new one: adding an
engine changes no file already delivered, and a one-engine host renders exactly what it always did.

The directory is never taken over. The service's `ExecStartPre=+` runs the script with
`--prepare` as root: it makes `<backupDir>` (owner the job's user, mode 0700) only if it is
missing, and otherwise leaves it exactly as it is and stops the job unless it already is a
real directory (no symbolic link on the way) owned by that user with mode 0700, below
directories only root may write. Retention deletes only what the job itself wrote: in a run
directory named exactly like a run (`<UTC time>` or `.<UTC time>.partial`), only its own dump
files, manifest and marks; a run holding anything else is kept and named. Where `<backupDir>`
may live at all is `components/config/paths.py`'s to say (not /, /etc, /var, /tmp, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.config.paths import PathRuleError, host_directory
from components.render import quoting

Engine = Literal["postgresql", "mariadb"]
JOB_NAME = "isp-db-backup"  # a one-engine host's job, and the first listed engine's on a host with several
SCRIPT_DIR = "/usr/local/sbin"
SCRIPT_PATH = f"{SCRIPT_DIR}/{JOB_NAME}"
SERVICE_NAME = f"{JOB_NAME}.service"
TIMER_NAME = f"{JOB_NAME}.timer"
_JOB_NAME_RE = re.compile(r"isp-db-backup(-[a-z]+)?")

# Schemas that are not customer data: MariaDB computes them, they cannot be restored.
MARIADB_SYSTEM_SCHEMAS = ("information_schema", "performance_schema", "sys")

# Who runs the job: PostgreSQL's peer authentication maps the OS user to the superuser role;
# Debian's MariaDB lets root in through unix_socket authentication.
_RUNS_AS = {"postgresql": "postgres", "mariadb": "root"}
_AFTER = {"postgresql": "postgresql.service", "mariadb": "mariadb.service"}


@dataclass(frozen=True)
class BackupJob:
    """One engine's backup job on a host: its script, service and timer are named after it."""

    engine: Engine
    name: str

    @property
    def script_path(self) -> str:
        return f"{SCRIPT_DIR}/{self.name}"

    @property
    def service_name(self) -> str:
        return f"{self.name}.service"

    @property
    def timer_name(self) -> str:
        return f"{self.name}.timer"


def backup_jobs(engines: Sequence[Engine]) -> list[BackupJob]:
    """The jobs of a host running `engines` (in the order listed): the first keeps `isp-db-backup`."""
    engines = [_engine(e) for e in engines]
    if not engines or len(set(engines)) != len(engines):
        raise quoting.RenderValueError("engines", engines, "must list each engine once, at least one")
    return [BackupJob(e, JOB_NAME if i == 0 else f"{JOB_NAME}-{e}") for i, e in enumerate(engines)]


def _job_name(value: Any) -> str:
    if not isinstance(value, str) or not _JOB_NAME_RE.fullmatch(value):
        raise quoting.RenderValueError("job", value, "must be isp-db-backup or isp-db-backup-<engine>")
    return value


def _engine(value: Any) -> Engine:
    if value not in ("postgresql", "mariadb"):
        raise quoting.RenderValueError("engine", value, "must be 'postgresql' or 'mariadb'")
    return value


def _backup_dir(value: Any) -> str:
    path = quoting.absolute_path(value, "backup_dir")
    try:
        return host_directory(path)  # the same named rules as the config model's
    except PathRuleError as problem:
        raise quoting.RenderValueError("backup_dir", value, str(problem)) from None


def _schedule(value: Any) -> str:
    return quoting.calendar_event(value, "schedule")


_HEAD = """\
#!/bin/bash
# Back up every {title} database to its own dated file (lesson 9).
# Rendered by the ISP program; edits are overwritten.
#
# Databases are listed when this runs, so a new customer database is never missed. Each run
# writes {backup_dir}/<UTC time>/ with one file per database, {extra}and SHA256SUMS.
# Restore one database from its own file: {restore}
# Every database is tried; the exit status is non-zero if any failed.
set -u -o pipefail
umask 077
shopt -s nullglob

backup_dir='{backup_dir}'
job_user='{user}'  # the job runs as this user, who must own backup_dir
retention_days={retention_days}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
work_dir="$backup_dir/.$stamp.partial"
run_dir="$backup_dir/$stamp"
failed=()

log() {{ printf '{job}: %s\\n' "$*" >&2; }}

# A database name may hold any character, a file name must not: plain names are kept,
# any other becomes _x<hex of its bytes> (no plain name starts with _, so none collide).
file_label() {{
  if [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
    printf '%s' "$1"
  else
    printf '_x%s' "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \\n')"
  fi
}}

# The directory the job writes in: a real directory, reached through no symbolic link, owned by
# the job's user with mode 0700. Anything else is left exactly as it is, and the job stops.
check_dir() {{
  local real state
  real=$(realpath -e -- "$backup_dir" 2>/dev/null)
  if [[ $real != "$backup_dir" || ! -d $backup_dir || -L $backup_dir ]]; then
    log "$backup_dir is not a directory reached without symbolic links; not using it"
    exit 1
  fi
  state=$(stat -c '%U %a' -- "$backup_dir") || exit 1
  if [[ $state != "$job_user 700" ]]; then
    log "$backup_dir has owner and mode '$state', not '$job_user 700'; this job re-owns only a directory it" \\
      "creates: fix it by hand (chown $job_user:$job_user, chmod 0700) or choose another backupDir"
    exit 1
  fi
}}

# As root, before the job (ExecStartPre=+): make backup_dir if it is missing; never re-own or re-mode
# one that exists. Every directory above it must be root's and writable by root only (a link counts as
# writable), so that nobody else can swap the directory for a link while the job runs.
prepare() {{
  local dir=$backup_dir state
  while dir=${{dir%/*}}; [[ -n $dir ]]; do
    [[ -e $dir || -L $dir ]] || continue
    state=$(stat -c '%u %a' -- "$dir") || exit 1
    if [[ ${{state%% *}} != 0 ]] || (( 8#${{state##* }} & 8#022 )); then
      log "$dir (above $backup_dir) must be owned by root and writable by root only, found uid and mode '$state'"
      exit 1
    fi
  done
  if [[ ! -e $backup_dir && ! -L $backup_dir ]]; then
    (umask 022 && mkdir -p -- "${{backup_dir%/*}}/") || {{ log "cannot create ${{backup_dir%/*}}"; exit 1; }}
    mkdir -m 0700 -- "$backup_dir" || {{ log "cannot create $backup_dir"; exit 1; }}
    chown -h -- "$job_user:$job_user" "$backup_dir" || {{ log "cannot give $backup_dir to $job_user"; exit 1; }}
  fi
  check_dir
}}

case ${{1-}} in
  --prepare) prepare; exit 0 ;;
  '') ;;
  *) log "usage: $0 [--prepare]"; exit 2 ;;
esac

check_dir
mkdir -- "$work_dir" || {{ log "cannot create $work_dir"; exit 1; }}
"""

_POSTGRESQL = """
# NUL-separated: a database name may even hold a newline.
list_databases() {{
  psql --no-psqlrc --dbname=postgres --no-align --tuples-only --record-separator-zero \\
    --command='SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname'
}}

# The name goes to libpq as a quoted conninfo value, so '=' or a space in it is just a name.
dump_database() {{
  local quoted=${{1//\\\\/\\\\\\\\}}
  quoted=${{quoted//\\'/\\\\\\'}}
  pg_dump --format=custom --lock-wait-timeout={lock_wait}s --file="$2" --dbname="dbname='$quoted'"
}}

dump_globals() {{
  local out="$work_dir/globals-$stamp.sql.gz"
  pg_dumpall --globals-only | gzip -c >"$out" || {{ log "roles and tablespaces: pg_dumpall --globals-only failed"; \\
    rm -f -- "$out"; failed+=("(globals)"); }}
}}
suffix=dump
"""

_MARIADB = """
# Hex from the server, decoded here: a schema name may even hold a newline.
list_databases() {{
  local hex name
  mysql --batch --skip-column-names --execute="SELECT HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA \\
WHERE SCHEMA_NAME NOT IN ({system}) ORDER BY SCHEMA_NAME" | while IFS= read -r hex; do
    [[ $hex =~ ^([0-9A-F]{{2}})+$ ]] || {{ log "unexpected schema listing line"; return 1; }}
    printf -v name '%b' "$(printf '%s' "$hex" | sed 's/../\\\\x&/g')"
    printf '%s\\0' "$name"
  done
}}

# --databases: the file creates and selects its database, so it restores alone.
dump_database() {{
  mysqldump --single-transaction --routines --events --triggers --databases -- "$1" | gzip -c >"$2"
}}

dump_globals() {{ :; }}  # users and grants live in the mysql schema, dumped like any database
suffix=sql.gz
"""

_TAIL = """
if ! list_databases >"$work_dir/.databases"; then
  log "cannot list the databases; nothing was backed up"
  rm -rf -- "$work_dir"
  exit 1
fi
count=0
while IFS= read -r -d '' db; do
  count=$((count + 1))
  out="$work_dir/$(file_label "$db")-$stamp.$suffix"
  if ! dump_database "$db" "$out"; then
    log "database $(file_label "$db"): dump failed"
    rm -f -- "$out"
    failed+=("$(file_label "$db")")
  fi
done <"$work_dir/.databases"
rm -f -- "$work_dir/.databases"
dump_globals

files=("$work_dir"/*)
if ((${#files[@]})); then
  # Written under a hidden name first, so the manifest never lists itself.
  if (cd -- "$work_dir" && sha256sum -- *) >"$work_dir/.SHA256SUMS"; then
    mv -- "$work_dir/.SHA256SUMS" "$work_dir/SHA256SUMS"
  else
    log "cannot write SHA256SUMS"
    failed+=("(manifest)")
  fi
fi
if ((${#failed[@]})); then
  printf '%s\\n' "${failed[@]}" >"$work_dir/FAILED"
fi
mv -- "$work_dir" "$run_dir" || { log "cannot rename $work_dir to $run_dir"; exit 1; }

if ((${#failed[@]})); then
  log "$count database(s) listed; failed: ${failed[*]}; kept every earlier run"
  exit 1
fi
# Only after a clean run: runs (and crashed partial runs) older than the retention go (find -mtime +N
# matches whole days beyond N, so +(days - 1) keeps `retention_days` days); of each, only what this job
# writes (its dump files, manifest and marks, never a link), then the emptied directory.
while IFS= read -r -d '' old; do
  name=${old##*/}
  stamp=${name#.}
  stamp=${stamp%.partial}
  find "$old" -mindepth 1 -maxdepth 1 -type f \\( -name "*-$stamp.$suffix" -o -name "globals-$stamp.sql.gz" \\
    -o -name SHA256SUMS -o -name .SHA256SUMS -o -name FAILED -o -name .databases \\) -delete
  rmdir -- "$old" 2>/dev/null || log "kept $old: it holds files this job did not write"
done < <(find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \\
  -regex '.*/([0-9]{8}T[0-9]{6}Z|\\.[0-9]{8}T[0-9]{6}Z\\.partial)' -mtime "+$((retention_days - 1))" -print0)
log "$count database(s) backed up to $run_dir"
"""


def render_backup_script(
    *, engine: Engine, backup_dir: str, retention_days: int, lock_wait_timeout_seconds: int = 600,
    job: str = JOB_NAME,
) -> str:
    """The bash script `ExecStart=` runs: one dump file per database, found at run time.

    `lock_wait_timeout_seconds` (PostgreSQL): how long pg_dump waits for a table lock before
    giving up on that database, so that one locked customer table cannot stall the night.
    `job` names the job in what the script logs.
    """
    engine = _engine(engine)
    job = _job_name(job)
    backup_dir = _backup_dir(backup_dir)
    retention_days = quoting.positive_int(retention_days, "retention_days", maximum=3650)
    lock_wait = quoting.positive_int(lock_wait_timeout_seconds, "lock_wait_timeout_seconds", maximum=86400)
    if engine == "postgresql":
        head = _HEAD.format(
            title="PostgreSQL",
            job=job,
            user=_RUNS_AS[engine],
            backup_dir=backup_dir,
            retention_days=retention_days,
            extra="globals-<time>.sql.gz (roles, tablespaces) ",
            restore="pg_restore --create -d postgres <db>-<time>.dump",
        )
        body = _POSTGRESQL.format(lock_wait=lock_wait)
    else:
        head = _HEAD.format(
            title="MariaDB",
            job=job,
            user=_RUNS_AS[engine],
            backup_dir=backup_dir,
            retention_days=retention_days,
            extra="",
            restore="gunzip -c <db>-<time>.sql.gz | mysql",
        )
        body = _MARIADB.format(system=", ".join(f"'{s}'" for s in MARIADB_SYSTEM_SCHEMAS))
    return head + body + _TAIL


def render_backup_service(*, engine: Engine, backup_dir: str, script_path: str = SCRIPT_PATH) -> str:
    """The oneshot service that runs the script as the database's own superuser."""
    engine = _engine(engine)
    backup_dir = _backup_dir(backup_dir)
    script_path = quoting.absolute_path(script_path, "script_path")
    user = _RUNS_AS[engine]
    return f"""\
# Rendered by the ISP program; edits are overwritten.
[Unit]
Description=Back up each {engine} database to its own file (lesson 9)
After={_AFTER[engine]}

[Service]
Type=oneshot
User={user}
Group={user}
# '+': with full privileges, the script makes {backup_dir} if it is missing and refuses one it
# would have to re-own (--prepare); then the job runs as {user}.
ExecStartPre=+{script_path} --prepare
ExecStart={script_path}
Nice=10
IOSchedulingClass=idle
PrivateTmp=yes
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
"""


def render_backup_timer(*, schedule: str, service_name: str = SERVICE_NAME) -> str:
    """When the job runs; `Persistent=` catches up a run missed while the host was down."""
    schedule = _schedule(schedule)
    # systemd ignores a Unit= of more than 255 characters (UNIT_NAME_MAX) or starting with '@'.
    if not isinstance(service_name, str) or not re.fullmatch(r"[A-Za-z0-9_.-][A-Za-z0-9_.@-]{0,246}\.service",
                                                             service_name):
        raise quoting.RenderValueError("service_name", service_name, "must be a unit name ending in .service")
    return f"""\
# Rendered by the ISP program; edits are overwritten.
[Unit]
Description=Run {service_name} on schedule (lesson 9)

[Timer]
OnCalendar={schedule}
Persistent=true
Unit={service_name}

[Install]
WantedBy=timers.target
"""
