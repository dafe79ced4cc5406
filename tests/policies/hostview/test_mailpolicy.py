"""check_policy_service joined to what listens there: policyd-rate-limit, postfwd, cluebringer."""

from __future__ import annotations

import pytest
from hostview import mailpolicy, mailview
from pack_builders import copy_file, view_of

MAIL = "mail.example.net"


def setup(main: str, files: dict[str, str] | None = None, commands=()):
    resources = [copy_file(MAIL, "/etc/postfix/main.cf", "myhostname = mail.example.net\n" + main)]
    resources += [copy_file(MAIL, path, text) for path, text in (files or {}).items()]
    view = view_of(*resources, *commands)
    (ph,) = mailview.postfix_hosts(view)
    return view, ph


def joined(main: str, files: dict[str, str] | None = None) -> list[tuple[str, tuple]]:
    view, ph = setup(main, files)
    found, _ = mailpolicy.checks(ph, None)
    out = []
    for check in found:
        _, daemons = mailpolicy.answering(view, ph, check.endpoint)
        out.extend((d.kind, d.listen) for d in daemons)
    return out


def test_checks_positions_classes_and_sender_binding() -> None:
    main = ("smtpd_restriction_classes = ratelimit\nratelimit = check_policy_service inet:127.0.0.1:10040\n"
            "smtpd_sender_login_maps = hash:/etc/postfix/senders\n"
            "smtpd_sender_restrictions = reject_sender_login_mismatch\n"
            "smtpd_recipient_restrictions = permit_mynetworks, ratelimit, permit_sasl_authenticated,\n"
            "    check_policy_service unix:private/late, reject_unauth_destination\n"
            "smtpd_end_of_data_restrictions = check_policy_service { inet:127.0.0.1:10041, timeout=10s }\n")
    _, ph = setup(main)
    found, bound = mailpolicy.checks(ph, None)
    assert [(c.parameter, c.target, c.late) for c in found] == [
        ("smtpd_recipient_restrictions", "inet:127.0.0.1:10040", False),
        ("smtpd_recipient_restrictions", "unix:private/late", True),
        ("smtpd_end_of_data_restrictions", "inet:127.0.0.1:10041", False)]
    assert bound and found[0].where == "main.cf line 6"
    _, unbound = mailpolicy.checks(setup(main.replace("smtpd_sender_login_maps = hash:/etc/postfix/senders\n", ""))[1],
                                   None)
    assert not unbound


def test_policyd_rate_limit_on_a_unix_socket_below_the_queue_directory() -> None:
    main = "smtpd_recipient_restrictions = check_policy_service unix:ratelimit/policy, permit_sasl_authenticated\n"
    assert joined(main, {"/etc/policyd-rate-limit.yaml": "limits:\n  - [200, 86400]\n"}) == [
        ("policyd-rate-limit", ("unix", "/var/spool/postfix/ratelimit/policy", None))]
    assert joined(main, {"/etc/policyd-rate-limit.yaml": 'SOCKET: ["127.0.0.1", 8552]\n'}) == []


def test_policyd_rate_limit_on_tcp_and_the_packaged_config() -> None:
    main = "smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:8552, permit_sasl_authenticated\n"
    assert joined(main, {"/etc/policyd-rate-limit.yaml": 'SOCKET: ["127.0.0.1", 8552]\n'}) == [
        ("policyd-rate-limit", ("inet", "127.0.0.1", 8552))]


@pytest.mark.parametrize("files,listen", [
    # Debian's defaults: 127.0.0.1:10040 and /etc/postfix/postfwd.cf
    ({"/etc/postfix/postfwd.cf": "id=R1; action=rate(sasl_username/100/86400/450 4.7.1 limit)\n"},
     ("inet", "127.0.0.1", 10040)),
    ({"/etc/postfix/postfwd.cf": "id=R1; action=dunno\n",
      "/etc/default/postfwd": "CONF=/etc/postfix/postfwd.cf\nINET=127.0.0.1\nPORT=10045\n"},
     None),
    ({"/etc/postfwd/rules.cf": "id=R1; action=dunno\n",
      "/etc/systemd/system/postfwd.service": "[Service]\nExecStart=/usr/sbin/postfwd2 --nodaemon -f "
                                             "/etc/postfwd/rules.cf --interface 0.0.0.0 --port 10040\n"},
     ("inet", "0.0.0.0", 10040)),
])
def test_postfwd_listening(files: dict[str, str], listen) -> None:
    main = "smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10040, permit_sasl_authenticated\n"
    found = joined(main, files)
    assert found == ([("postfwd", listen)] if listen else [])


def test_postfwd_spawned_by_master_cf() -> None:
    master = ("smtp inet n - y - - smtpd\n"
              "127.0.0.1:10040 inet n n n - 0 spawn user=nobody argv=/usr/sbin/postfwd -f /etc/postfix/postfwd.cf\n")
    view, ph = setup("smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10040\n",
                     {"/etc/postfix/master.cf": master,
                      "/etc/postfix/postfwd.cf": "id=R1; action=rate(sasl_username/100/86400/450 x)\n"})
    (check,), _ = mailpolicy.checks(ph, None)
    _, (daemon,) = mailpolicy.answering(view, ph, check.endpoint)
    assert "master.cf spawn service '127.0.0.1:10040'" in daemon.label
    assert mailpolicy.judge(daemon, 250, False, False).cap == 100


def test_cluebringer_with_its_quotas() -> None:
    conf = "[server]\nmodules=<<EOT\nCore\nQuotas\nEOT\nport=10031\n[Quotas]\nenable=1\n"
    sql = ("INSERT INTO quotas (PolicyID,Name,Track,Period,Verdict) VALUES (1,'Daily','SASLUsername',86400,'DEFER');\n"
           "INSERT INTO quotas_limits (QuotasID,Type,CounterLimit) VALUES (1,'MessageCount',150);\n")
    view, ph = setup("smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10031\n",
                     {"/etc/cluebringer/cluebringer.conf": conf, "/root/cluebringer-quotas.sql": sql})
    (check,), _ = mailpolicy.checks(ph, None)
    _, (daemon,) = mailpolicy.answering(view, ph, check.endpoint)
    assert daemon.kind == "cluebringer" and mailpolicy.judge(daemon, 250, False, False).cap == 150


def test_a_policy_service_on_another_machine() -> None:
    view = view_of(copy_file(MAIL, "/etc/postfix/main.cf",
                             "smtpd_recipient_restrictions = check_policy_service inet:10.0.0.30:10040\n"),
                   copy_file("10.0.0.30", "/etc/postfix/postfwd.cf",
                             "id=R1; action=rate(sasl_username/100/86400/450 x)\n"),
                   copy_file("10.0.0.30", "/etc/default/postfwd", "INET=0.0.0.0\nPORT=10040\n"))
    (ph,) = mailview.postfix_hosts(view)
    (check,), _ = mailpolicy.checks(ph, None)
    machine, (daemon,) = mailpolicy.answering(view, ph, check.endpoint)
    assert machine.key == "10.0.0.30" and daemon.kind == "postfwd"


# -- what counts as a per-account daily cap -----------------------------------------------------


def _postfwd(rules: str, ceiling: int = 250, bound: bool = False) -> mailpolicy.Judgement:
    from readers import policyservices
    daemon = mailpolicy.Daemon("postfwd", "postfwd", ("inet", "127.0.0.1", 10040), None,
                               policyservices.parse_postfwd(rules))
    return mailpolicy.judge(daemon, ceiling, bound, False)


@pytest.mark.parametrize("rules,cap,problem", [
    ("id=R1; action=rate(sasl_username/200/86400/450 4.7.1 limit)\n", 200, None),
    ("id=R1; protocol_state==RCPT; sasl_username=~.+\n  action=rcpt(sasl_username/20/3600/450 x)\n", None,
     "allows 480 mails/day"),
    ("id=R1; action=rate(client_address/200/86400/450 x)\n", None, "counts per client_address, not per account"),
    ("id=R1; action=rate(sender/200/86400/450 x)\n", None, "counts per sender, not per account"),
    ("id=R1; action=size(sasl_username/10000000/86400/450 x)\n", None, "counts bytes, not mails"),
    ("id=OK; action=OK\nid=R1; action=rate(sasl_username/200/86400/450 x)\n", None, "is never reached"),
    ("id=R1; client_address=10.0.0.0/8; action=rate(sasl_username/200/86400/450 x)\n", None,
     "applies only when client_address=10.0.0.0/8"),
    ("id=R1; action=dunno\n", None, "the ruleset has no rate limit"),
])
def test_postfwd_caps(rules: str, cap, problem) -> None:
    verdict = _postfwd(rules)
    assert verdict.cap == cap
    if problem:
        assert any(problem in p for p in verdict.problems), verdict.problems


def test_postfwd_sender_counts_when_the_sender_is_bound_to_the_login() -> None:
    assert _postfwd("id=R1; action=rate(sender/200/86400/450 x)\n", bound=True).cap == 200
