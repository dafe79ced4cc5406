"""dmarc-enforcement-needs-dkim and dkim-record-matches-signing-key over stacks written as operators write them.

Shapes from opendkim.conf(5) (KeyTable `domain:selector:keyfile`, `%`, refile SigningTable, the single-key
Domain/Selector/KeyFile form, Socket), postconf(5) (smtpd_milters, non_smtpd_milters), rspamd's
dkim_signing documentation, RFC 6376 §3.6.1 and RFC 7489, never from our renderer's output.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pack_builders import ASSET, SECRET, SIG, UNKNOWN, copy_file, record, resource, run, view_of, zone
from rules import dkim

HOST = "mail.example.net"
ADDRESS = "198.51.100.25"
LABEL = f"{HOST} ({ADDRESS})"  # how the pack names the machine


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode()


PRIVATE, PUBLIC = _rsa_pair()
OTHER_PRIVATE, OTHER_PUBLIC = _rsa_pair()

MAIN_CF = f"""myhostname = {HOST}
smtpd_milters = inet:localhost:8891
non_smtpd_milters = $smtpd_milters
milter_default_action = accept
"""

OPENDKIM_CONF = """Syslog yes
Mode sv
Socket inet:8891@localhost
KeyTable /etc/opendkim/key.table
SigningTable refile:/etc/opendkim/signing.table
InternalHosts /etc/opendkim/trusted.hosts
"""
KEY_TABLE = "s2026a._domainkey.example.org example.org:s2026a:/etc/dkimkeys/s2026a.private\n"
SIGNING_TABLE = "*@example.org s2026a._domainkey.example.org\n"


def command(create: str, name: str = "opendkim-by-hand"):
    props = {"connection": {SIG: SECRET, "value": {"host": HOST, "user": "root", "privateKey": "k"}},
             "create": create}
    return resource("command:remote:Command", name, props)


def opendkim_heredoc(conf: str = OPENDKIM_CONF, key_table: str = KEY_TABLE, signing_table: str = SIGNING_TABLE):
    """An operator's OpenDKIM set up in one remote.Command with heredocs."""
    return command(f"""set -e
apt-get install -y opendkim opendkim-tools
cat > /etc/opendkim.conf <<'EOF'
{conf}EOF
mkdir -p /etc/opendkim
cat > /etc/opendkim/key.table <<'EOF'
{key_table}EOF
cat > /etc/opendkim/signing.table <<'EOF'
{signing_table}EOF
systemctl restart opendkim
""")


def dns(dmarc: str = "v=DMARC1; p=reject; rua=mailto:dmarc@example.org", mx: str = HOST,
        dkim_txt: str | None = None, selector: str = "s2026a") -> list:
    org = zone("example.org")
    net = zone("example.net")
    out = [org, net,
           record("example.org", "MX", mx, 10, zone_resource=org),
           record(HOST, "A", ADDRESS, zone_resource=net),
           record("example.org", "TXT", "v=spf1 mx -all", zone_resource=org),
           record("_dmarc.example.org", "TXT", dmarc, zone_resource=org)]
    if dkim_txt is not None:
        out.append(record(f"{selector}._domainkey.example.org", "TXT", dkim_txt, zone_resource=org))
    return out


def stack(*extra, main_cf: str = MAIN_CF, **dns_args) -> list:
    return [*dns(**dns_args), copy_file(HOST, "/etc/postfix/main.cf", main_cf), *extra]


def enforcement(*resources):
    return run(dkim.enforcement_findings, view_of(*resources))


def records(*resources):
    return run(dkim.record_findings, view_of(*resources))


KEY = copy_file(HOST, "/etc/dkimkeys/s2026a.private", PRIVATE)
GOOD_TXT = f"v=DKIM1; k=rsa; p={PUBLIC}"


# ---------------------------------------------------------------------------------------
# dmarc-enforcement-needs-dkim


def test_opendkim_by_heredoc_signing_the_domain_is_compliant() -> None:
    resources = stack(opendkim_heredoc(), KEY, dkim_txt=GOOD_TXT)
    assert enforcement(*resources) == ([], None)
    assert records(*resources) == ([], None)


def test_reject_without_any_signer_is_a_violation() -> None:
    (message,), _ = enforcement(*stack(main_cf=f"myhostname = {HOST}\n"))
    assert message.startswith(f"example.org publishes DMARC p=reject (_dmarc.example.org) and its MX names {LABEL}, ")
    assert "reaches no DKIM signer (smtpd_milters/non_smtpd_milters: none)" in message
    assert "(published by Cloudflare)" in message and "RFC 7489 §4.2" in message


def test_quarantine_is_enforcement_too_and_p_none_is_not_judged() -> None:
    (message,), _ = enforcement(*stack(main_cf=f"myhostname = {HOST}\n",
                                       dmarc="v=DMARC1; p=quarantine; adkim=r"))
    assert "p=quarantine" in message
    messages, reason = enforcement(*stack(main_cf=f"myhostname = {HOST}\n", dmarc="v=DMARC1; p=none"))
    assert messages == [] and reason.startswith("no domain with DMARC p=quarantine or p=reject")


def test_a_domain_whose_mx_is_elsewhere_is_not_judged() -> None:
    messages, reason = enforcement(*stack(main_cf=f"myhostname = {HOST}\n", mx="aspmx.l.google.com"))
    assert messages == [] and reason.startswith("no domain with DMARC")


def test_milter_reaching_a_different_port_does_not_sign() -> None:
    conf = OPENDKIM_CONF.replace("inet:8891@localhost", "inet:12301@localhost")
    (message,), _ = enforcement(*stack(opendkim_heredoc(conf=conf), KEY))
    assert "reaches no DKIM signer (smtpd_milters/non_smtpd_milters: inet:localhost:8891)" in message


@pytest.mark.parametrize(("socket", "milter", "signs"), [
    ("inet:8891", "inet:127.0.0.1:8891", True),  # every interface
    ("inet:8891@[127.0.0.1]", "inet:localhost:8891", True),
    ("inet:8891@198.51.100.25", "inet:198.51.100.25:8891", True),  # the host's own address
    ("inet:8891@198.51.100.25", "inet:localhost:8891", False),  # not listening on loopback
    ("inet6:8891@[::1]", "inet:[::1]:8891", True),
])
def test_socket_and_milter_addresses(socket: str, milter: str, signs: bool) -> None:
    conf = OPENDKIM_CONF.replace("inet:8891@localhost", socket)
    main_cf = MAIN_CF.replace("inet:localhost:8891", milter)
    messages, reason = enforcement(*stack(opendkim_heredoc(conf=conf), KEY, main_cf=main_cf, dkim_txt=GOOD_TXT))
    assert (messages, reason) == ([], None) if signs else len(messages) == 1, (messages, reason)


def test_a_milter_on_a_host_outside_the_stack_is_not_judged() -> None:
    main_cf = MAIN_CF.replace("inet:localhost:8891", "inet:dkim.elsewhere.test:8891")
    messages, reason = enforcement(*stack(main_cf=main_cf))
    assert messages == []
    assert "the milter inet:dkim.elsewhere.test:8891 is on a host the stack delivers nothing" in reason


def test_rspamd_installed_without_dkim_config_or_key_does_not_sign() -> None:
    main_cf = MAIN_CF.replace("8891", "11332")
    (message,), _ = enforcement(*stack(command("apt-get install -y rspamd\n", "rspamd"), main_cf=main_cf))
    assert ("rspamd's defaults sign example.org only with /var/lib/rspamd/dkim/example.org.dkim.key, which the stack "
            "neither delivers nor generates") in message


def test_verify_only_mode_does_not_sign() -> None:
    (message,), _ = enforcement(*stack(opendkim_heredoc(conf=OPENDKIM_CONF.replace("Mode sv", "Mode v")), KEY))
    assert "has Mode v (line 2), without s: it only verifies" in message


def test_signing_table_naming_a_key_the_key_table_lacks() -> None:
    resources = stack(opendkim_heredoc(signing_table="*@example.org missing-key\n"), KEY)
    (message,), _ = enforcement(*resources)
    assert ("/etc/opendkim/signing.table line 1 names the key missing-key, which /etc/opendkim/key.table lacks "
            "(OpenDKIM then does not sign)") in message


def test_signing_with_another_domain_is_not_aligned() -> None:
    key_table = "net example.net:s1:/etc/dkimkeys/s2026a.private\n"
    (message,), _ = enforcement(*stack(opendkim_heredoc(key_table=key_table, signing_table="*@example.org net\n"),
                                       KEY))
    assert "signs it with d=example.net" in message and "not aligned with example.org (adkim=r)" in message


def test_strict_alignment_refuses_a_parent_domain_relaxed_accepts_it() -> None:
    org = zone("example.org")
    sub = [record("lists.example.org", "MX", HOST, 10, zone_resource=org)]
    key_table = "org example.org:s2026a:/etc/dkimkeys/s2026a.private\n"
    heredoc = opendkim_heredoc(key_table=key_table, signing_table="*@*example.org org\n")
    relaxed = stack(heredoc, KEY, *sub, dkim_txt=GOOD_TXT)
    relaxed.append(record("_dmarc.lists.example.org", "TXT", "v=DMARC1; p=reject", zone_resource=org))
    assert enforcement(*relaxed) == ([], None)
    strict = stack(heredoc, KEY, *sub, dkim_txt=GOOD_TXT)
    strict.append(record("_dmarc.lists.example.org", "TXT", "v=DMARC1; p=reject; adkim=s", zone_resource=org))
    (message,), _ = enforcement(*strict)
    assert message.startswith("lists.example.org publishes DMARC p=reject") and "(adkim=s)" in message


def test_percent_key_table_signs_every_domain_with_its_own_d() -> None:
    key_table = "any %:mail:/etc/dkimkeys/%/mail.private\n"
    key = copy_file(HOST, "/etc/dkimkeys/example.org/mail.private", PRIVATE)
    resources = stack(opendkim_heredoc(key_table=key_table, signing_table="* any\n"), key,
                      dkim_txt=GOOD_TXT, selector="mail")
    assert enforcement(*resources) == ([], None)
    assert records(*resources) == ([], None)


def test_debian_single_key_form() -> None:
    conf = ("Syslog yes\nDomain example.org\nSelector s2026a\nKeyFile /etc/dkimkeys/s2026a.private\n"
            "Socket local:/var/spool/postfix/opendkim/opendkim.sock\n")
    main_cf = f"myhostname = {HOST}\nsmtpd_milters = unix:opendkim/opendkim.sock\nnon_smtpd_milters = $smtpd_milters\n"
    resources = stack(copy_file(HOST, "/etc/opendkim.conf", conf), KEY, main_cf=main_cf, dkim_txt=GOOD_TXT)
    assert enforcement(*resources) == ([], None)
    assert records(*resources) == ([], None)
    other = conf.replace("Domain example.org", "Domain example.com")
    (message,), _ = enforcement(*stack(copy_file(HOST, "/etc/opendkim.conf", other), KEY, main_cf=main_cf))
    assert "Domain (line 2) does not list example.org" in message


def test_chrooted_absolute_milter_path_and_grouped_milter_syntax() -> None:
    conf = OPENDKIM_CONF.replace("inet:8891@localhost", "local:/var/spool/postfix/opendkim/opendkim.sock")
    main_cf = (f"myhostname = {HOST}\n"
               "smtpd_milters = { unix:/opendkim/opendkim.sock, connect_timeout=10s, default_action=accept }\n")
    assert enforcement(*stack(opendkim_heredoc(conf=conf), KEY, main_cf=main_cf, dkim_txt=GOOD_TXT)) == ([], None)


def test_rspamd_signing_all_domains_by_template() -> None:
    conf = 'path = "/var/lib/rspamd/dkim/$domain.$selector.key";\nselector = "s2026a";\n'
    main_cf = f"myhostname = {HOST}\nsmtpd_milters = inet:localhost:11332\nnon_smtpd_milters = $smtpd_milters\n"
    key = copy_file(HOST, "/var/lib/rspamd/dkim/example.org.s2026a.key", PRIVATE)
    resources = stack(copy_file(HOST, "/etc/rspamd/local.d/dkim_signing.conf", conf), key, main_cf=main_cf,
                      dkim_txt=GOOD_TXT)
    assert enforcement(*resources) == ([], None)
    assert records(*resources) == ([], None)
    (message,), _ = records(*stack(copy_file(HOST, "/etc/rspamd/local.d/dkim_signing.conf", conf), key,
                                   main_cf=main_cf, dkim_txt=f"v=DKIM1; k=rsa; p={OTHER_PUBLIC}"))
    assert ("p= is not the public half of /var/lib/rspamd/dkim/example.org.s2026a.key, the key rspamd on "
            f"{HOST}") in message
    off = conf + "sign_authenticated = false;\n"
    (message,), _ = enforcement(*stack(copy_file(HOST, "/etc/rspamd/local.d/dkim_signing.conf", off), key,
                                       main_cf=main_cf))
    assert "sign_authenticated = false, so mail customers submit is not signed" in message


def test_unreadable_signing_config_is_a_note_not_a_violation() -> None:
    conf = OPENDKIM_CONF.replace("refile:/etc/opendkim/signing.table", "dsn:mysql://dkim@localhost/dkim/table=sign")
    messages, reason = enforcement(*stack(opendkim_heredoc(conf=conf), KEY))
    assert messages == []
    assert "not judged" in reason and "is a database the pack cannot read" in reason
    # A signing table the stack does not deliver.
    bare = command("cat > /etc/opendkim.conf <<'EOF'\n" + OPENDKIM_CONF + "EOF\n")
    messages, reason = enforcement(*stack(bare, KEY))
    assert messages == [] and "/etc/opendkim/key.table, which the stack does not deliver" in reason


def test_opendkim_conf_unknown_at_preview_waits_for_up() -> None:
    unknown = resource("command:remote:CopyToRemote", "opendkim-conf", {
        "connection": {SIG: SECRET, "value": {"host": HOST, "user": "root", "privateKey": "k"}},
        "source": UNKNOWN, "remotePath": "/etc/opendkim.conf"})
    view = view_of(*stack(unknown))
    from pulumi_policy.proxy import UnknownValueError
    with pytest.raises(UnknownValueError):
        run(dkim.enforcement_findings, view)


def test_main_cf_unknown_at_preview_waits_only_where_an_enforced_domain_may_need_it() -> None:
    from pulumi_policy.proxy import UnknownValueError
    unknown_main = resource("command:remote:CopyToRemote", "main-cf-later", {
        "connection": {SIG: SECRET, "value": {"host": HOST, "user": "root", "privateKey": "k"}},
        "source": UNKNOWN, "remotePath": "/etc/postfix/main.cf"})
    with pytest.raises(UnknownValueError):
        enforcement(*dns(), unknown_main)
    messages, reason = enforcement(*dns(dmarc="v=DMARC1; p=none"), unknown_main)
    assert messages == [] and reason.startswith("no domain with DMARC")
    assert records(*dns(), unknown_main) == ([], "no mail host of the stack DKIM-signs")


# ---------------------------------------------------------------------------------------
# dkim-record-matches-signing-key


def test_missing_record_is_a_violation() -> None:
    (message,), _ = records(*stack(opendkim_heredoc(), KEY))
    assert message.startswith(f"OpenDKIM (/etc/opendkim.conf on {LABEL}) signs mail of example.org with selector "
                              "s2026a, but publishes no DKIM key at s2026a._domainkey.example.org (Cloudflare)")
    assert PRIVATE.splitlines()[1] not in message


def test_revoked_and_mismatched_keys_are_violations() -> None:
    (message,), _ = records(*stack(opendkim_heredoc(), KEY, dkim_txt="v=DKIM1; k=rsa; p="))
    assert "has an empty p=: the key is revoked" in message
    (message,), _ = records(*stack(opendkim_heredoc(), KEY, dkim_txt=f"v=DKIM1; k=rsa; p={OTHER_PUBLIC}"))
    assert ("s2026a._domainkey.example.org p= is not the public half of /etc/dkimkeys/s2026a.private, the key "
            "OpenDKIM") in message
    assert PRIVATE.splitlines()[1] not in message and OTHER_PUBLIC not in message


def test_a_key_delivered_as_a_secret_is_read_decrypted_as_the_engine_hands_it_over() -> None:
    secret_key = resource("command:remote:CopyToRemote", "dkim-key", {
        "connection": {SIG: SECRET, "value": {"host": HOST, "user": "root", "privateKey": "k"}},
        "source": {SIG: SECRET, "value": {SIG: ASSET, "text": PRIVATE}},
        "remotePath": "/etc/dkimkeys/isp-staging/s2026a.private"})
    assert records(*stack(opendkim_heredoc(), secret_key, dkim_txt=GOOD_TXT)) == ([], None)
    (message,), _ = records(*stack(opendkim_heredoc(), secret_key, dkim_txt=f"v=DKIM1; p={OTHER_PUBLIC}"))
    assert "p= is not the public half of /etc/dkimkeys/s2026a.private" in message


def test_a_placeholder_key_is_not_judged_but_the_record_still_is() -> None:
    placeholder = copy_file(HOST, "/etc/dkimkeys/s2026a.private", "preflight-secret-isp-dkimkey-s2026a-1234")
    messages, reason = records(*stack(opendkim_heredoc(), placeholder, dkim_txt=f"v=DKIM1; p={OTHER_PUBLIC}"))
    assert messages == [] and "is not readable PEM here" in reason
    (message,), _ = records(*stack(opendkim_heredoc(), placeholder))
    assert "publishes no DKIM key at s2026a._domainkey.example.org" in message


def test_record_split_into_strings_and_ed25519() -> None:
    half = len(PUBLIC) // 2
    split = f'"v=DKIM1; k=rsa; " "p={PUBLIC[:half]}" "{PUBLIC[half:]}"'
    assert records(*stack(opendkim_heredoc(), KEY, dkim_txt=split)) == ([], None)
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    raw = base64.b64encode(ed.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)).decode()
    key_table = KEY_TABLE + "ed example.org:e2026a:/etc/dkimkeys/e2026a.private\n"
    signing = SIGNING_TABLE + "*@example.org ed\n"
    conf = OPENDKIM_CONF + "MultipleSignatures yes\n"
    resources = stack(opendkim_heredoc(conf, key_table, signing), KEY,
                      copy_file(HOST, "/etc/dkimkeys/e2026a.private", ed_pem), dkim_txt=GOOD_TXT)
    org = resources[0]
    good = record("e2026a._domainkey.example.org", "TXT", f"v=DKIM1; k=ed25519; p={raw}", zone_resource=org)
    assert records(*resources, good) == ([], None)
    wrong = record("e2026a._domainkey.example.org", "TXT", f"v=DKIM1; k=rsa; p={raw}", zone_resource=org)
    (message,), _ = records(*resources, wrong)
    assert message.startswith(f"OpenDKIM (/etc/opendkim.conf on {LABEL}) signs mail of example.org with selector "
                              "e2026a")


def test_each_zone_file_is_judged_on_its_own() -> None:
    zone_text = (f"$TTL 3600\n@ IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n"
                 f"@ IN NS ns1.example.net.\n@ IN MX 10 {HOST}.\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n")
    zone_file = copy_file("ns1.example.net", "/etc/bind/db.example.org", zone_text)
    net = zone("example.net")
    resources = [net, record(HOST, "A", ADDRESS, zone_resource=net), zone_file,
                 copy_file(HOST, "/etc/postfix/main.cf", MAIN_CF), opendkim_heredoc(), KEY]
    (message,), _ = records(*resources)
    assert message.endswith("publishes no DKIM key at s2026a._domainkey.example.org (/etc/bind/db.example.org on "
                            "ns1.example.net); every signature then fails verification (RFC 6376 §6.1.2): publish "
                            "the selector's key before signing with it")


def test_no_signer_no_verdict_and_outside_names_are_notes() -> None:
    messages, reason = records(*stack(main_cf=f"myhostname = {HOST}\n"))
    assert messages == [] and reason == "no mail host of the stack DKIM-signs"
    key_table = KEY_TABLE + "cust customer.test:s1:/etc/dkimkeys/s2026a.private\n"
    messages, reason = records(*stack(opendkim_heredoc(key_table=key_table,
                                                       signing_table=SIGNING_TABLE + "*@customer.test cust\n"),
                                      KEY, dkim_txt=GOOD_TXT))
    assert messages == [] and "s1._domainkey.customer.test: outside the stack's zones" in reason


def test_opendkim_genkey_output_matches_its_private_key(tmp_path) -> None:
    """The record and key opendkim-genkey(8) writes, read as the operator pastes them."""
    import subprocess

    from hostview.stackview import txt_text
    from pack_builders import tool
    from readers import dkimrecord

    subprocess.run([tool("opendkim-genkey"), "-b", "2048", "-d", "example.org", "-s", "s2026a", "-D", str(tmp_path)],
                   check=True, timeout=60)
    zone_line = (tmp_path / "s2026a.txt").read_text()
    text = txt_text(zone_line[zone_line.index("(") + 1: zone_line.index(")")].replace("\n", " "))
    private = (tmp_path / "s2026a.private").read_text()
    assert dkim.key_matches(dkimrecord.parse(text), private) is True
    assert dkim.key_matches(dkimrecord.parse(text), PRIVATE) is False
    assert dkim.key_matches(dkimrecord.parse(text), "preflight-secret-isp-dkimkey-1234") is None
