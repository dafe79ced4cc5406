"""Database dump commands, read the way the dump tools read their own arguments (lesson 9).

Restoring one customer's database from a dump of all of them is misery, so a dump call is
judged by how many databases go into its one output:

- `pg_dumpall` dumps every database into one stream unless it only dumps the cluster's
  globals (`-g`/`--globals-only`, `-r`/`--roles-only`, `-t`/`--tablespaces-only`).
- `mysqldump`/`mariadb-dump`: `-A`/`--all-databases`, or `-B`/`--databases` with more than
  one name. `mysqlpump`/`mariadb-pump`: `-A`/`--all-databases`, or no database named at all
  (its default is every database).
- `pg_dump` dumps one database.

Short options are read in clusters (`-Aq`, `-gU postgres`) with the tools' own lists of
options that take a value (`-uAdmin` is a user, not -A); long options may be abbreviated to
any unambiguous prefix (getopt_long and MySQL's my_getopt both accept `--all-d`), and a
MySQL boolean can be switched off (`--all-databases=0`, `--skip-all-databases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from readers import shellwords

PER_DATABASE = {"pg_dump"}
POSTGRES_ALL = {"pg_dumpall"}
MYSQL_DUMP = {"mysqldump", "mariadb-dump"}
MYSQL_PUMP = {"mysqlpump", "mariadb-pump"}
DUMP_TOOLS = PER_DATABASE | POSTGRES_ALL | MYSQL_DUMP | MYSQL_PUMP

# pg_dumpall's getopt string "acd:E:f:gh:l:Op:rsS:tU:vwWx" (PostgreSQL 12-17): letters with a value.
_PG_DUMPALL_VALUE = set("dEfhlpSU")
_PG_DUMPALL_GLOBALS = {"g", "r", "t"}
_PG_DUMPALL_LONG = (
    "data-only", "clean", "file", "encoding", "globals-only", "no-owner", "roles-only", "schema-only", "superuser",
    "tablespaces-only", "verbose", "version", "no-privileges", "help", "dbname", "host", "database", "port",
    "username", "no-password", "password", "role", "binary-upgrade", "column-inserts", "disable-dollar-quoting",
    "disable-triggers", "exclude-database", "extra-float-digits", "if-exists", "inserts", "load-via-partition-root",
    "no-comments", "no-publications", "no-role-passwords", "no-security-labels", "no-subscriptions", "no-sync",
    "no-table-access-method", "no-tablespaces", "no-toast-compression", "no-unlogged-table-data",
    "on-conflict-do-nothing", "quote-all-identifiers", "rows-per-insert", "use-set-session-authorization",
    "lock-wait-timeout", "filter", "restrict-key",
)
_PG_DUMPALL_LONG_VALUE = {"file", "encoding", "superuser", "dbname", "host", "database", "port", "username", "role",
                          "exclude-database", "extra-float-digits", "rows-per-insert", "lock-wait-timeout", "filter",
                          "restrict-key"}
_PG_DUMPALL_GLOBALS_LONG = {"globals-only", "roles-only", "tablespaces-only"}

# mysqldump short options taking a value (-p takes one only when attached: -psecret).
_MYSQL_VALUE = set("hPSurTwW")
_MYSQL_LONG = (
    "all-databases", "all-tablespaces", "no-tablespaces", "add-drop-database", "add-drop-table", "add-drop-trigger",
    "add-locks", "allow-keywords", "apply-replica-statements", "apply-slave-statements", "character-sets-dir",
    "comments", "compatible", "compact", "complete-insert", "compress", "copy-s3-tables", "create-options",
    "databases", "debug", "debug-check", "debug-info", "default-character-set", "delayed-insert",
    "delete-master-logs", "disable-keys", "dump-date", "dump-history", "dump-replica", "dump-slave", "events",
    "extended-insert", "fields-terminated-by", "fields-enclosed-by", "fields-optionally-enclosed-by",
    "fields-escaped-by", "flush-logs", "flush-privileges", "force", "gtid", "help", "hex-blob", "host",
    "ignore-database", "ignore-table-data", "ignore-table", "include-master-host-port", "insert-ignore",
    "lines-terminated-by", "lock-all-tables", "lock-tables", "log-error", "log-queries", "master-data",
    "max-allowed-packet", "max-statement-time", "net-buffer-length", "no-autocommit", "no-create-db",
    "no-create-info", "no-data", "no-data-med", "order-by-primary", "order-by-size", "password", "port",
    "protocol", "quick", "quote-names", "replace", "result-file", "routines", "set-charset",
    "single-transaction", "skip-opt", "socket", "ssl", "ssl-ca", "ssl-capath", "ssl-cert",
    "ssl-cipher", "ssl-key", "ssl-crl", "ssl-crlpath", "ssl-verify-server-cert", "system", "tab", "tables",
    "triggers", "tz-utc", "user", "verbose", "version", "where", "xml", "plugin-dir", "default-auth",
    "opt", "include-databases", "exclude-databases", "defaults-file", "defaults-extra-file", "login-path",
)
_MYSQL_LONG_VALUE = {"character-sets-dir", "compatible", "default-character-set", "fields-terminated-by",
                     "fields-enclosed-by", "fields-optionally-enclosed-by", "fields-escaped-by", "host",
                     "ignore-database", "ignore-table-data", "ignore-table", "lines-terminated-by", "log-error",
                     "max-allowed-packet", "max-statement-time", "net-buffer-length", "port", "protocol",
                     "result-file", "socket", "ssl-ca", "ssl-capath", "ssl-cert", "ssl-cipher", "ssl-key", "ssl-crl",
                     "ssl-crlpath", "tab", "user", "where", "plugin-dir", "default-auth", "include-databases",
                     "exclude-databases", "defaults-file", "defaults-extra-file", "login-path", "system"}
_FALSE = {"0", "false", "off", "no"}


@dataclass(frozen=True)
class Dump:
    """One dump call and, when it puts several databases into one output, why."""

    call: shellwords.Call
    several: str | None

    @property
    def per_database(self) -> bool:
        return self.several is None and self.call.tool not in POSTGRES_ALL


def _long(word: str, known: tuple[str, ...]) -> tuple[str | None, str | None]:
    """`--name[=value]` -> (the known option it abbreviates, value); (None, None) if unknown/ambiguous."""
    name, _, value = word[2:].partition("=")
    name = name.replace("_", "-")
    if name in known:
        return name, (value if "=" in word else None)
    matches = [option for option in known if option.startswith(name)] if name else []
    return (matches[0], (value if "=" in word else None)) if len(matches) == 1 else (None, None)


def _pg_dumpall(args: tuple[str, ...]) -> str | None:
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word == "--":
            break
        if word.startswith("--"):
            name, value = _long(word, _PG_DUMPALL_LONG)
            if name in _PG_DUMPALL_GLOBALS_LONG:
                return None
            if name in _PG_DUMPALL_LONG_VALUE and value is None:
                index += 1
        elif word.startswith("-") and len(word) > 1:
            for position, letter in enumerate(word[1:], start=1):
                if letter in _PG_DUMPALL_GLOBALS:
                    return None
                if letter in _PG_DUMPALL_VALUE:
                    if position == len(word) - 1:
                        index += 1
                    break
    return "pg_dumpall without --globals-only writes every database into one dump"


def _mysql(tool: str, args: tuple[str, ...]) -> str | None:
    all_databases = False
    databases_mode = False
    positional: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word == "--":
            positional.extend(args[index:])
            break
        if word.startswith("--"):
            raw = word[2:].split("=", 1)[0].replace("_", "-")
            enabled = True
            for prefix in ("skip-", "disable-"):
                if raw.startswith(prefix):
                    word, enabled = "--" + word[2 + len(prefix):], False
            if raw.startswith("enable-"):
                word = "--" + word[2 + len("enable-"):]
            name, value = _long(word, _MYSQL_LONG)
            if value is not None and value.lower() in _FALSE:
                enabled = False
            if name == "all-databases":
                all_databases = enabled
            elif name == "databases":
                databases_mode = enabled
            elif name == "include-databases" and enabled:
                positional.append(value or (args[index] if index < len(args) else ""))
            if name in _MYSQL_LONG_VALUE and value is None and not raw.startswith(("skip-", "disable-")):
                index += 1
        elif word.startswith("-") and len(word) > 1:
            for position, letter in enumerate(word[1:], start=1):
                if letter == "A":
                    all_databases = True
                elif letter == "B":
                    databases_mode = True
                elif letter == "p":
                    break  # -p or -pPASSWORD: the rest is the password
                elif letter in _MYSQL_VALUE:
                    if position == len(word) - 1:
                        index += 1
                    break
        else:
            positional.append(word)
    if all_databases:
        return f"{tool} --all-databases writes every database into one dump"
    if databases_mode and len(positional) > 1:
        return f"{tool} --databases with {len(positional)} databases writes them into one dump"
    if tool in MYSQL_PUMP and not positional:
        return f"{tool} without a database name writes every database into one dump"
    return None


def dumps(text: str) -> list[Dump]:
    """Every database dump call in a script, cron table, unit or command line."""
    out = []
    for call in shellwords.find_calls(text, DUMP_TOOLS):
        if call.tool in POSTGRES_ALL:
            several = _pg_dumpall(call.args)
        elif call.tool in MYSQL_DUMP | MYSQL_PUMP:
            several = _mysql(call.tool, call.args)
        else:
            several = None
        out.append(Dump(call, several))
    return out
