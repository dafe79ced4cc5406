"""The mail policies over whole stacks built from text: a compliant stack and one break at a time."""

from __future__ import annotations

import pytest
from pack_builders import copy_file, record, run, view_of, zone
from readers import postfixconf
from rules import mail as mail_rules

MAIL_HOST = "10.0.1.25"

MAIN_CF = """myhostname = mail.example.net
mydomain = example.net
smtpd_banner = $myhostname ESMTP $mail_name
smtp_bind_address = 10.0.1.25
home_mailbox = Maildir/
message_size_limit = 26214400
mua_client_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_policy_service unix:ratelimit/policy,
    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
"""

MASTER_CF = """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=$mua_client_restrictions
submissions     inet  n       -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=$mua_client_restrictions
"""

GATEWAY_NFT = """table ip nat {
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr 203.0.113.25 dnat to 10.0.1.25; }
  chain postrouting { type nat hook postrouting priority srcnat; ip saddr 10.0.1.25 snat to 203.0.113.25; }
}
"""

RATE_LIMIT = "limits:\n  - [10, 60]\n  - [200, 86400]\nlimit_by_sasl: true\n"


def stack(main: str = MAIN_CF, master: str | None = MASTER_CF, ptr: str | None = "mail.example.net",
          mail_a: str = "203.0.113.25", extra_files=(), extra_records=(), host: str = MAIL_HOST):
    z, rz = zone("example.net"), zone("113.0.203.in-addr.arpa")
    resources = [
        z, rz,
        record("example.net", "MX", "mail.example.net", 10, zone_resource=z),
        record("mail.example.net", "A", mail_a, zone_resource=z),
        record("example.net", "TXT", "v=spf1 mx -all", zone_resource=z),
        copy_file(host, "/etc/postfix/main.cf", main),
        copy_file("10.0.0.1", "/etc/nftables.conf", GATEWAY_NFT),
        copy_file(MAIL_HOST, "/etc/policyd-rate-limit.yaml", RATE_LIMIT),
        *extra_records,
    ]
    if ptr:
        resources.append(record("25.113.0.203.in-addr.arpa", "PTR", ptr, zone_resource=rz))
    if master is not None:
        resources.append(copy_file(MAIL_HOST, "/etc/postfix/master.cf", master))
    resources += [copy_file(host, path, text) for host, path, text in extra_files]
    return view_of(*resources)


RULES = [mail_rules.fcrdns_findings, mail_rules.banner_findings, mail_rules.submission_findings,
         mail_rules.daily_limit_findings, mail_rules.size_findings, mail_rules.mailbox_findings]


def findings(rule, view, config=None) -> list[str]:
    return run(rule, view, config)[0]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_compliant_stack_passes_every_mail_policy(rule) -> None:
    assert findings(rule, stack()) == []


# -- mail-host-fcrdns -----------------------------------------------------------------------


def test_fcrdns_without_ptr() -> None:
    (message,) = findings(mail_rules.fcrdns_findings, stack(ptr=None))
    assert message == ("MX target mail.example.net (MX of example.net) has address 203.0.113.25 with no PTR anywhere "
                       "in the stack; every mail host address needs one: 25.113.0.203.in-addr.arpa PTR "
                       "mail.example.net")


def test_fcrdns_ptr_not_resolving_back() -> None:
    (message,) = findings(mail_rules.fcrdns_findings, stack(ptr="smtp.example.net"))
    assert "PTR of 203.0.113.25 is smtp.example.net, which resolves to no address in the stack" in message


def test_fcrdns_outside_targets_are_skipped_with_a_note() -> None:
    z = zone("example.org")
    view = view_of(z, record("example.org", "MX", "aspmx.l.google.com", 1, zone_resource=z))
    assert run(mail_rules.fcrdns_findings, view) == (
        [], "every MX target is outside the stack's zones: aspmx.l.google.com")


def test_fcrdns_does_not_take_a_null_mx_for_a_mail_host() -> None:
    # RFC 7505: "MX 0 ." names no host; a ptr-less broken host beside it is still found, without a note on ".".
    parked = zone("example.org")
    view = stack(ptr=None, extra_records=(parked, record("example.org", "MX", ".", 0, zone_resource=parked)))
    (message,) = findings(mail_rules.fcrdns_findings, view)
    assert message.endswith("25.113.0.203.in-addr.arpa PTR mail.example.net")
    only_null = view_of(parked, record("example.org", "MX", ".", 0, zone_resource=parked))
    assert run(mail_rules.fcrdns_findings, only_null) == (
        [], "every MX is the null MX (RFC 7505): no mail host to check")


def test_fcrdns_with_bind_zone_files_and_generate() -> None:
    forward = ("$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n@ MX 10 mx\nns1 A 198.51.100.53\n"
               "$GENERATE 20-30 mx A 198.51.100.$\n")
    reverse = ("$TTL 300\n@ SOA ns1.example.com. hostmaster.example.com. 1 2 3 4 5\n"
               "$GENERATE 0-255 $ PTR host-$.example.com.\n")
    files = [("10.0.0.53", "/etc/bind/db.example.com", forward), ("10.0.0.53", "/etc/bind/db.198.51.100", reverse)]
    view = view_of(*[copy_file(h, p, t) for h, p, t in files])
    messages = findings(mail_rules.fcrdns_findings, view)
    # mx.example.com has 11 generated addresses; each PTR names host-N, which has no address.
    assert len(messages) == 11 and "PTR of 198.51.100.20 is host-20.example.com" in messages[0]
    fixed = forward + "$GENERATE 0-255 host-$ A 198.51.100.$\n"
    view = view_of(copy_file("10.0.0.53", "/etc/bind/db.example.com", fixed), copy_file(*files[1]))
    assert findings(mail_rules.fcrdns_findings, view) == []


# -- smtp-banner-matches-ptr ------------------------------------------------------------------


def test_banner_differs_from_ptr() -> None:
    main = MAIN_CF.replace("smtpd_banner = $myhostname ESMTP $mail_name", "smtpd_banner = mx1.example.net ESMTP")
    (message,) = findings(mail_rules.banner_findings, stack(main=main))
    assert message == ("mail.example.net (10.0.1.25, 203.0.113.25): smtpd_banner announces 'mx1.example.net' "
                       "(main.cf line 3) but the PTR of 203.0.113.25 (snat of 10.0.1.25 in /etc/nftables.conf on "
                       "10.0.0.1) is mail.example.net; they must be the same name")


def test_banner_public_address_from_myhostname_when_no_nat() -> None:
    main = MAIN_CF.replace("smtp_bind_address = 10.0.1.25\n", "")
    view = stack(main=main, ptr="other.example.net", host="mailhost.admin.internal")
    messages = findings(mail_rules.banner_findings, view)
    assert messages == [
        f"mailhost.admin.internal: {name} announces 'mail.example.net' ({where}) but the PTR of "
        "203.0.113.25 (A/AAAA of myhostname mail.example.net) is other.example.net; they must be the same name"
        for name, where in (("myhostname", "main.cf line 1"), ("smtpd_banner", "main.cf line 3"),
                            ("smtp_helo_name", "the Debian postfix default"))]


def test_banner_without_myhostname() -> None:
    main = MAIN_CF.replace("myhostname = mail.example.net\n", "")
    (message,) = findings(mail_rules.banner_findings, stack(main=main))
    assert "myhostname is not set" in message


# -- submission-requires-auth ------------------------------------------------------------------


@pytest.mark.parametrize("master,expected", [
    (None, "no master.cf is delivered, so only port 25 listens"),
    (MASTER_CF.split("submissions")[0], "no smtpd service on port 465"),
    (MASTER_CF.replace("  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_client_restrictions=$mua_client_restrictions\n"
                       "submissions", "submissions", 1), "has smtpd_sasl_auth_enable=no"),
    (MASTER_CF.replace("-o smtpd_tls_wrappermode=yes", "-o smtpd_tls_security_level=encrypt"),
     "smtpd_tls_wrappermode is not yes"),
    (MASTER_CF + "2525 inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes\n", "lets clients through without SASL"),
])
def test_submission_violations(master, expected: str) -> None:
    messages = findings(mail_rules.submission_findings, stack(master=master))
    assert any(expected in m for m in messages), messages


def test_submission_required_ports_are_configurable() -> None:
    view = stack(master=MASTER_CF.split("submissions")[0])
    assert findings(mail_rules.submission_findings, view, {"requiredPorts": [587]}) == []


def test_requires_sasl() -> None:
    assert mail_rules.requires_sasl(["permit_mynetworks", "permit_sasl_authenticated", "reject"])
    assert not mail_rules.requires_sasl(["permit_sasl_authenticated", "reject_unauth_destination"])
    assert not mail_rules.requires_sasl(["permit", "permit_sasl_authenticated", "reject"])


# -- daily-send-limit ----------------------------------------------------------------------------


def test_no_policy_service() -> None:
    main = MAIN_CF.replace("check_policy_service unix:ratelimit/policy,\n   ", "")
    messages = findings(mail_rules.daily_limit_findings, stack(main=main))
    assert len(messages) == 2  # submission and submissions
    assert "has no check_policy_service in smtpd_*_restrictions; nothing caps mail per account per day " \
           "(ceiling 250)" in messages[0]


def test_policy_service_after_permit_does_not_count() -> None:
    main = MAIN_CF.replace(
        "check_policy_service unix:ratelimit/policy,\n    permit_mynetworks, permit_sasl_authenticated,",
        "permit_mynetworks, permit_sasl_authenticated, check_policy_service unix:ratelimit/policy,")
    messages = findings(mail_rules.daily_limit_findings, stack(main=main))
    assert messages and "comes after a permit in smtpd_recipient_restrictions" in messages[0]


@pytest.mark.parametrize("yaml_text,expected", [
    ("limits:\n  - [300, 86400]\n", "allow 300 mails/day per account; the ceiling is 250/day"),
    ("limits:\n  - [20, 3600]\n", "allow 480 mails/day per account"),
    ("limits: []\n", "allow unlimited per account"),
    ("limit_by_sasl: false\nlimit_by_ip: true\n", "keyed by IP address only"),
    ("limits_by_id:\n  bulk: []\n", "limits_by_id['bulk'] allows unlimited"),
    ("limits: [\n", "not valid YAML"),
])
def test_rate_limit_config_violations(yaml_text: str, expected: str) -> None:
    view = stack(extra_files=[(MAIL_HOST, "/etc/policyd-rate-limit.yaml", yaml_text)])
    messages = findings(mail_rules.daily_limit_findings, view)
    assert any(expected in m for m in messages), messages


def test_ceiling_is_configurable() -> None:
    view = stack(extra_files=[(MAIL_HOST, "/etc/policyd-rate-limit.yaml", "limits:\n  - [300, 86400]\n")])
    assert findings(mail_rules.daily_limit_findings, view, {"dailyLimitCeiling": 300}) == []


# -- message-size-limit ----------------------------------------------------------------------------


@pytest.mark.parametrize("line,expected", [
    ("message_size_limit = 0", "message_size_limit = 0 means unlimited; the maximum is 52428800 bytes"),
    ("message_size_limit = 104857600\nmailbox_size_limit = 0",
     "message_size_limit = 104857600 bytes exceeds the maximum 52428800"),
    ("message_size_limit = 25m", "'25m' is not a number of bytes"),
])
def test_size_violations(line: str, expected: str) -> None:
    main = MAIN_CF.replace("message_size_limit = 26214400", line)
    (message,) = findings(mail_rules.size_findings, stack(main=main))
    assert expected in message


def test_size_default_passes_and_overrides_are_checked() -> None:
    assert findings(mail_rules.size_findings, stack(main=MAIN_CF.replace("message_size_limit = 26214400\n", ""))) == []
    master = MASTER_CF + "2525 inet n - y - - smtpd -o message_size_limit=0\n"
    (message,) = findings(mail_rules.size_findings, stack(master=master))
    assert "service '2525'" in message
    bigger = MAIN_CF.replace("26214400", "60000000\nmailbox_size_limit = 0")
    assert findings(mail_rules.size_findings, stack(main=bigger), {"maxMessageSizeBytes": 60000000}) == []


# -- maildir-not-mbox --------------------------------------------------------------------------------


@pytest.mark.parametrize("change,expected", [
    (("home_mailbox = Maildir/", "home_mailbox = Mailbox"), "home_mailbox = Mailbox has no trailing '/'"),
    (("home_mailbox = Maildir/", "mail_spool_directory = /var/spool/mail"),
     "mail_spool_directory = /var/spool/mail (set, main.cf line 5)"),
    (("home_mailbox = Maildir/\n", ""), "mail_spool_directory = /var/mail (the default of Debian's postfix)"),
])
def test_mbox_violations(change, expected: str) -> None:
    (message,) = findings(mail_rules.mailbox_findings, stack(main=MAIN_CF.replace(*change)))
    assert expected in message


def test_lmtp_to_dovecot_is_judged_by_dovecot() -> None:
    main = MAIN_CF.replace("home_mailbox = Maildir/", "mailbox_transport = lmtp:unix:private/dovecot-lmtp")
    dovecot = (MAIL_HOST, "/etc/dovecot/conf.d/10-mail.conf", "mail_location = mbox:~/mail:INBOX=/var/mail/%u\n")
    (message,) = findings(mail_rules.mailbox_findings, stack(main=main, extra_files=[dovecot]))
    assert message.startswith("mail.example.net (10.0.1.25, 203.0.113.25): mail is stored as mbox — local(8) hands "
                              "mailboxes to mailbox_transport = lmtp:unix:private/dovecot-lmtp (main.cf line 5): LMTP "
                              "to unix:private/dovecot-lmtp")
    assert ("Dovecot's effective mail_location = mbox:~/mail:INBOX=/var/mail/%u (/etc/dovecot/conf.d/10-mail.conf "
            "line 1)") in message
    maildir = (MAIL_HOST, "/etc/dovecot/conf.d/10-mail.conf", "mail_location = maildir:~/Maildir\n")
    assert findings(mail_rules.mailbox_findings, stack(main=main, extra_files=[maildir])) == []


# -- maildir-not-mbox: per delivery agent ---------------------------------------------------------


# A whole master.cf as Debian ships it, with the submission services added.
FULL_MASTER = postfixconf.DEBIAN_MASTER_CF + MASTER_CF.split("\n", 1)[1]


def _mailbox(main_change: tuple[str, str], files=(), master: str | None = FULL_MASTER):
    view = stack(main=MAIN_CF.replace(*main_change), master=master,
                 extra_files=[(MAIL_HOST, path, text) for path, text in files])
    return run(mail_rules.mailbox_findings, view)


PROCMAIL = ("home_mailbox = Maildir/", 'mailbox_command = /usr/bin/procmail -a "$EXTENSION"')


def test_procmail_delivering_to_maildir_passes_and_without_rcfile_is_mbox() -> None:
    assert _mailbox(PROCMAIL, [("/etc/procmailrc", "DEFAULT=$HOME/Maildir/\n")])[0] == []
    (message,), _ = _mailbox(PROCMAIL)
    assert message.startswith("mail.example.net (10.0.1.25, 203.0.113.25): mail is stored as mbox — local(8) runs "
                              'mailbox_command = /usr/bin/procmail -a "$EXTENSION" (main.cf line 5); procmail (no '
                              "rcfile delivered) finally delivers to its default mailbox /var/mail/$LOGNAME")
    (message,), _ = _mailbox(PROCMAIL, [("/etc/procmailrc", "MAILDIR=$HOME/Maildir\nDEFAULT=$MAILDIR\n")])
    assert "DEFAULT=$HOME/Maildir (/etc/procmailrc line 2)" in message


def test_maildrop_with_and_without_trailing_slash() -> None:
    change = ("home_mailbox = Maildir/", "mailbox_command = /usr/bin/maildrop -d ${USER}")
    assert _mailbox(change, [("/etc/maildroprc", 'DEFAULT="$HOME/Maildir/"\n')]) == ([], None)
    findings_, reason = _mailbox(change, [("/etc/maildroprc", 'DEFAULT="$HOME/Maildir"\n')])
    assert findings_ == [] and "maildrop decides when delivering" in reason and reason.startswith("not judged")


VIRTUAL = ("home_mailbox = Maildir/", "mydestination = localhost\nhome_mailbox = Maildir/\n"
           "virtual_mailbox_domains = example.org\nvirtual_mailbox_base = /var/vmail\n"
           "virtual_mailbox_maps = hash:/etc/postfix/vmailbox")


def test_virtual_mailboxes() -> None:
    assert _mailbox(VIRTUAL, [("/etc/postfix/vmailbox", "info@example.org example.org/info/\n")]) == ([], None)
    (message,), _ = _mailbox(VIRTUAL, [("/etc/postfix/vmailbox", "info@example.org example.org/info\n")])
    assert "virtual(8) delivers info@example.org to virtual_mailbox_base + 'example.org/info'" in message
    findings_, reason = _mailbox(VIRTUAL)
    assert findings_ == [] and "/etc/postfix/vmailbox is not delivered by the stack; not judged" in reason


LMTP = ("home_mailbox = Maildir/", "mailbox_transport = lmtp:unix:private/dovecot-lmtp")
DOVECOT_ROOT = "protocols = imap lmtp\n!include conf.d/*.conf\n"
DOVECOT_LMTP = ("service lmtp {\n  unix_listener /var/spool/postfix/private/dovecot-lmtp {\n    mode = 0600\n"
                "    user = postfix\n  }\n}\n")


def test_lmtp_to_dovecot_keeping_debians_10_mail_is_mbox() -> None:
    files = [("/etc/dovecot/dovecot.conf", DOVECOT_ROOT), ("/etc/dovecot/conf.d/10-master.conf", DOVECOT_LMTP)]
    (message,), _ = _mailbox(LMTP, files)
    assert ("Dovecot's effective mail_location = mbox:~/mail:INBOX=/var/mail/%u (Debian's packaged "
            "/etc/dovecot/conf.d/10-mail.conf line 1)") in message
    fixed = [*files, ("/etc/dovecot/conf.d/10-mail.conf", "mail_location = maildir:~/Maildir\n")]
    assert _mailbox(LMTP, fixed) == ([], None)


def test_dovecot_imap_folders_in_mbox_beside_a_maildir_postfix() -> None:
    (message,), _ = _mailbox(("", ""), [("/etc/dovecot/dovecot.conf", DOVECOT_ROOT)])
    assert message.startswith("mail.example.net (10.0.1.25, 203.0.113.25): Dovecot stores mail as mbox — its "
                              "effective mail_location = mbox:~/mail:INBOX=/var/mail/%u (Debian's packaged "
                              "/etc/dovecot/conf.d/10-mail.conf line 1)")
    archive = ("mail_location = maildir:~/Maildir\nnamespace archive {\n  prefix = Archive/\n"
               "  location = mbox:~/arc\n}\n")
    (message,), _ = _mailbox(("", ""), [("/etc/dovecot/dovecot.conf", archive)])
    assert "Dovecot's namespace archive stores mail as mbox — location = mbox:~/arc" in message


def test_lmtp_without_dovecot_is_not_judged() -> None:
    findings_, reason = _mailbox(LMTP)
    assert findings_ == [] and "delivers no Dovecot config" in reason


# -- daily-send-limit: per policy service ---------------------------------------------------------------

POSTFWD_MAIN = ("check_policy_service unix:ratelimit/policy", "check_policy_service inet:127.0.0.1:10040")


def _daily(files, change=POSTFWD_MAIN, config=None):
    view = stack(main=MAIN_CF.replace(*change), extra_files=[(MAIL_HOST, path, text) for path, text in files])
    return run(mail_rules.daily_limit_findings, view, config)


def test_postfwd_keyed_by_sasl_username_passes() -> None:
    rules = "id=DAILY; sasl_username=~.+\n    action=rate(sasl_username/200/86400/450 4.7.1 daily limit)\n"
    assert _daily([("/etc/postfix/postfwd.cf", rules)]) == ([], None)


def test_postfwd_keyed_by_client_address_is_not_a_daily_cap() -> None:
    rules = "id=RATE01; action=rate(client_address/200/86400/450 4.7.1 sorry)\n"
    (message,), _ = _daily([("/etc/postfix/postfwd.cf", rules)])
    assert message.startswith("mail.example.net (10.0.1.25, 203.0.113.25): postfwd (/etc/postfix/postfwd.cf; listening "
                              "per Debian's defaults")
    assert "rule RATE01 (line 1) rate(client_address/200/86400) counts per client_address, not per account" in message


def test_a_policy_service_nobody_listens_on_is_not_a_daily_cap() -> None:
    messages, _ = _daily([])
    assert len(messages) == 2 and "no policy service the stack configures listens at inet:127.0.0.1:10040" in \
        messages[0]


def test_cluebringer_quota_per_sasl_user() -> None:
    conf = "[server]\nmodules=<<EOT\nCore\nQuotas\nEOT\n[Quotas]\nenable=1\n"
    sql = ("INSERT INTO quotas (PolicyID,Name,Track,Period,Verdict) VALUES (1,'Daily','SASLUsername',86400,'DEFER');\n"
           "INSERT INTO quotas_limits (QuotasID,Type,CounterLimit) VALUES (1,'MessageCount',200);\n")
    change = POSTFWD_MAIN[0], "check_policy_service inet:127.0.0.1:10031"
    files = [("/etc/cluebringer/cluebringer.conf", conf), ("/etc/cluebringer/quotas.sql", sql)]
    assert _daily(files, change) == ([], None)
    (message,), _ = _daily(files[:1], change)
    assert "its quotas live in its database, which no SQL delivered by the stack fills" in message
    (message,), _ = _daily([files[0], (files[1][0], sql.replace("'SASLUsername'", "'SenderIP:/24'"))], change)
    assert "no quota counts messages per account" in message


def test_policyd_rate_limit_asked_only_at_end_of_data_counts_nothing() -> None:
    change = ("smtpd_recipient_restrictions = check_policy_service unix:ratelimit/policy,",
              "smtpd_end_of_data_restrictions = check_policy_service unix:ratelimit/policy\n"
              "smtpd_recipient_restrictions =")
    (message,), _ = _daily([], change)
    assert "policyd-rate-limit counts nothing (it acts at RCPT only)" in message


def test_limit_by_sender_counts_once_the_sender_is_bound_to_the_login() -> None:
    yaml_text = "limits:\n  - [200, 86400]\nlimit_by_sasl: false\nlimit_by_sender: true\n"
    (message,), _ = _daily([("/etc/policyd-rate-limit.yaml", yaml_text)], ("", ""))
    assert "keyed by sender address, which an authenticated client chooses freely" in message
    bound = ("mua_client_restrictions", "smtpd_sender_login_maps = hash:/etc/postfix/senders\n"
             "smtpd_sender_restrictions = reject_sender_login_mismatch\nmua_client_restrictions")
    assert _daily([("/etc/policyd-rate-limit.yaml", yaml_text)], bound) == ([], None)


# -- message-size-limit: the delivery agents' own limits ----------------------------------------------


def test_mailbox_size_limit_below_message_size_limit() -> None:
    main = MAIN_CF.replace("message_size_limit = 26214400", "message_size_limit = 52428800")
    (message,) = findings(mail_rules.size_findings, stack(main=main))
    assert message == ("mail.example.net (10.0.1.25, 203.0.113.25): mailbox_size_limit = 51200000 (the Debian postfix "
                       "default) is below message_size_limit = 52428800: local(8) refuses to deliver (fatal "
                       "configuration error); set mailbox_size_limit to 0 or at least message_size_limit")
    assert findings(mail_rules.size_findings, stack(main=main + "mailbox_size_limit = 0\n")) == []


# -- not judged -------------------------------------------------------------------------------------


def test_a_main_cf_unknown_at_preview_waits_for_up() -> None:
    from hostview.evidence import UnknownValueError
    from pack_builders import SECRET, SIG, UNKNOWN, resource
    unknown = resource("command:remote:CopyToRemote", "main", {
        "connection": {SIG: SECRET, "value": {"host": MAIL_HOST}}, "source": UNKNOWN,
        "remotePath": "/etc/postfix/main.cf"})
    with pytest.raises(UnknownValueError):
        run(mail_rules.mailbox_findings, view_of(unknown))


def test_a_policy_service_config_unknown_at_preview_is_not_judged() -> None:
    from hostview.evidence import UnknownValueError
    from pack_builders import SECRET, SIG, UNKNOWN, resource
    unknown = resource("command:remote:CopyToRemote", "ratelimit-later", {
        "connection": {SIG: SECRET, "value": {"host": MAIL_HOST}}, "source": UNKNOWN,
        "remotePath": "/etc/policyd-rate-limit.yaml"})
    z = zone("example.net")
    view = view_of(z, record("mail.example.net", "A", "203.0.113.25", zone_resource=z),
                   copy_file(MAIL_HOST, "/etc/postfix/main.cf", MAIN_CF),
                   copy_file(MAIL_HOST, "/etc/postfix/master.cf", MASTER_CF), unknown)
    with pytest.raises(UnknownValueError) as raised:
        run(mail_rules.daily_limit_findings, view)
    assert "policyd-rate-limit (/etc/policyd-rate-limit.yaml)" in str(getattr(raised.value, "message", raised.value))
