"""one-dump-per-database and webmail-certificate-matches through the real SDK servicer: the same
verdict at a first preview and after an update, and odd or hostile input never escapes."""

from __future__ import annotations

import pytest
from pack_builders import ASSET, SECRET, SIG, UNKNOWN, pem
from pulumi.runtime import proto
from sdk_requests import copy, diagnostics, servicer, stack_resource

OURS = {"one-dump-per-database", "webmail-certificate-matches"}
SITE = """server { listen 80; server_name webmail.example.net; location / { root /usr/share/roundcube; } }
server { listen 443 ssl; server_name webmail.example.net; ssl_certificate /etc/ssl/w/fullchain.pem; }
"""


def command(name: str, host: str, create, known: bool = True) -> proto.AnalyzerResource:
    return stack_resource("command:remote:Command", name, {
        "connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "k"}},
        "create": create, "stdout": "" if known else UNKNOWN})


def the_stack(known: bool) -> list[proto.AnalyzerResource]:
    return [
        stack_resource("pulumi:pulumi:Stack", "isp-dev", {}),
        copy("site", "www.example.net", "/etc/nginx/conf.d/webmail.conf", SITE),
        copy("cert", "www.example.net", "/etc/ssl/w/fullchain.pem", pem(["www.example.net"])),
        copy("pg", "db1.example.net", "/etc/postgresql/15/main/postgresql.conf", "port = 5432\n"),
        command("dump", "db1.example.net", "pg_dumpall -U postgres > /var/backups/all.sql", known),
        stack_resource("isp:db:DatabaseBackup", "db2",
                       {"databaseHosts": [{"host": "db2.example.net", "engine": "mariadb"}]}),
    ]


def ours(response) -> list[tuple[str, str, int, int]]:
    return [d for d in diagnostics(response) if d[0] in OURS]


def test_preview_verdicts_equal_update_verdicts():
    preview = ours(servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=the_stack(known=False)), None))
    update = ours(servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=the_stack(known=True)), None))
    assert preview == update
    found = [(name, level) for name, _, level, _ in preview]
    # Plain HTTP without redirect and a certificate for another name; pg_dumpall; db1 and db2 without a job.
    assert found.count(("webmail-certificate-matches", proto.MANDATORY)) == 2
    assert found.count(("one-dump-per-database", proto.ADVISORY)) == 3


@pytest.mark.parametrize("resource", [
    copy("pem-junk", "www.example.net", "/etc/ssl/w/fullchain.pem",
         "-----BEGIN CERTIFICATE-----\n" + "QUJD" * 50 + "\n-----END CERTIFICATE-----\n"),
    copy("pem-unknown", "www.example.net", "/etc/ssl/w/fullchain.pem", UNKNOWN),
    copy("cron-binary", "db1.example.net", "/etc/cron.d/x", "\x00\xff pg_dumpall '\n" * 50),
    copy("unit-huge", "db1.example.net", "/etc/systemd/system/x.service", "ExecStart=pg_dump " + "-x " * 20000),
    copy("nginx-deep", "www.example.net", "/etc/nginx/conf.d/webmail.conf", "server {" * 2000),
    command("create-list", "db1.example.net", ["pg_dumpall"]),
    command("create-dict", "db1.example.net", {"a": 1}),
    command("create-unknown", "db1.example.net", UNKNOWN),
    stack_resource("command:local:Command", "local", {"create": "certbot certonly -d ,,,"}),
    stack_resource("isp:db:DatabaseBackup", "odd", {"databaseHosts": [5, {"host": 7}, {"host": UNKNOWN}, "x"]}),
    stack_resource("isp:db:DatabaseBackup", "odd2", {"databaseHosts": {SIG: ASSET, "text": "x"}}),
])
def test_odd_input_never_escapes(resource):
    resources = [*the_stack(known=True), resource]
    response = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    messages = [message for name, message, _, _ in diagnostics(response) if name in OURS]
    assert messages and not any("could not" in m or "can't run" in m for m in messages), messages
