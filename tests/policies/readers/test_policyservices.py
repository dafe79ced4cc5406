"""postfwd rulesets (postfwd(8)) and cluebringer's config and quota SQL (policyd v2 docs and schema)."""

from __future__ import annotations

import pytest
from readers import policyservices

POSTFWD = """## per-account limits, as in postfwd's manual (1.30+ continuation lines)
&&AUTHENTICATED { sasl_username=~.+ ; };

id=WHITELIST ; client_address==127.0.0.1 ; action=DUNNO

id=DAILY ; &&AUTHENTICATED ; protocol_state==RCPT
        action=rate(sasl_username/200/86400/450 4.7.1 daily limit of 200 reached)
id=HOURLY; \\
        action=rcpt(client_address/100/3600/REJECT too many recipients)
id=BYTES ; action=size(sasl_username/10485760/86400/450 4.7.1 sorry)
id=OLD ; action=rate($$sasl_username/50/3600/450 old syntax)
id=NOACTION ; client_address==10.0.0.1
"""


def test_postfwd_rules_and_limits() -> None:
    parsed = policyservices.parse_postfwd(POSTFWD)
    assert [r.rule_id for r in parsed.rules] == ["WHITELIST", "DAILY", "HOURLY", "BYTES", "OLD"]
    by_id = {r.rule_id: r for r in parsed.rules}
    assert by_id["DAILY"].limit == policyservices.Limit("rate", "sasl_username", 200, 86400)
    assert by_id["DAILY"].items == (("sasl_username=~", ".+"), ("protocol_state==", "RCPT"))
    assert by_id["HOURLY"].limit == policyservices.Limit("rcpt", "client_address", 100, 3600)
    assert by_id["BYTES"].limit.counts == "bytes"
    assert by_id["OLD"].limit.item == "sasl_username"
    assert by_id["WHITELIST"].final and not by_id["DAILY"].final
    assert parsed.problems and "NOACTION has no action" in parsed.problems[0]


def test_postfwd_broken_rate_is_a_problem() -> None:
    assert policyservices.parse_postfwd("id=X; action=rate(sasl_username/lots/day/REJECT)\n").problems


@pytest.mark.parametrize("args,expected", [
    ([], ((), "127.0.0.1", 10040, "")),
    (["-f", "/etc/postfwd/postfwd.cf", "--interface=0.0.0.0", "-p", "10045"],
     (("/etc/postfwd/postfwd.cf",), "0.0.0.0", 10045, "")),
    (["--file=/etc/a.cf", "--proto=unix", "--port=/var/spool/postfix/private/postfwd"],
     (("/etc/a.cf",), "", None, "/var/spool/postfix/private/postfwd")),
    (["-f", "/etc/a.cf", "--server_socket", "tcp:127.0.0.1:10099"], (("/etc/a.cf",), "127.0.0.1", 10099, "")),
])
def test_postfwd_command_lines(args, expected) -> None:
    cmd = policyservices.postfwd_command(args)
    assert (cmd.rule_files, cmd.interface, cmd.port, cmd.socket) == expected


def test_debian_default_file() -> None:
    text = ('# Global options for postfwd(8).\nSTARTUP=1\nSCRIPT=/usr/sbin/postfwd2\nCONF=/etc/postfix/postfwd.cf\n'
            'INET=127.0.0.1\nPORT=10040\nRUNAS="nobody"\nARGS="--summary=600 --cache=600 --cache-rdomain-only"\n')
    cmd = policyservices.debian_default_postfwd(text)
    assert (cmd.rule_files, cmd.interface, cmd.port) == (("/etc/postfix/postfwd.cf",), "127.0.0.1", 10040)


CLUEBRINGER_CONF = """#
# Server configuration
#
[server]
protocols=<<EOT
Postfix
EOT
modules=<<EOT
Core
AccessControl
Quotas
EOT
#host=*
port=10031

[database]
DSN=DBI:SQLite:dbname=/var/lib/cluebringer/cluebringer.sqlite

[Quotas]
enable=1
"""

QUOTAS_SQL = """INSERT INTO policies (Name,Priority,Description) VALUES ('Outbound',10,'authenticated senders');
INSERT INTO quotas (PolicyID,Name,Track,Period,Verdict,Data)
  VALUES (1,'Per account','SASLUsername',86400,'DEFER','Daily limit');
INSERT INTO quotas (PolicyID,Name,Track,Period,Verdict) VALUES (1,'Quota on all /24s','SenderIP:/24',3600,'REJECT'),
  (1,'Old','Sender:user@domain',3600,'REJECT');
INSERT INTO quotas_limits (QuotasID,Type,CounterLimit) VALUES (1,'MessageCount',200);
INSERT INTO quotas_limits (QuotasID,Type,CounterLimit) VALUES (1,'MessageCumulativeSize',50000000);
INSERT INTO quotas_limits (QuotasID,Type,CounterLimit,Disabled) VALUES (2,'MessageCount',12,1);
"""


def test_cluebringer_conf() -> None:
    conf = policyservices.parse_cluebringer_conf(CLUEBRINGER_CONF)
    assert (conf.host, conf.port, conf.quotas_enabled) == ("*", 10031, True)
    assert conf.modules == ("Core", "AccessControl", "Quotas")
    off = policyservices.parse_cluebringer_conf(CLUEBRINGER_CONF.replace("Quotas\nEOT", "EOT"))
    assert not off.quotas_enabled


def test_cluebringer_quota_sql() -> None:
    quotas, problems = policyservices.parse_quota_sql(QUOTAS_SQL)
    assert problems == []
    assert [(q.quota_id, q.track, q.period, q.limits, q.per_account) for q in quotas] == [
        (1, "SASLUsername", 86400, (("MessageCount", 200), ("MessageCumulativeSize", 50000000)), True),
        (2, "SenderIP:/24", 3600, (), False),
        (3, "Sender:user@domain", 3600, (), True),
    ]
    assert quotas[0].message_limits == (200,)
    both = policyservices.parse_cluebringer(CLUEBRINGER_CONF + "\n" + QUOTAS_SQL)
    assert both.conf is not None and len(both.quotas) == 3
    assert policyservices.parse_cluebringer(QUOTAS_SQL).conf is None
