"""A mail host set up by hand, as an operator writes Postfix, procmail, Dovecot and a policy service on
Debian (postconf(5), procmailrc(5), postfwd(8), the policyd v2 docs).

`mailhand:case` picks the case:
- procmail-postfwd: local(8) runs procmail, whose /etc/procmailrc (a heredoc in a remote.Command)
  delivers to ~/Maildir/; postfwd (Debian's defaults) caps each SASL account at 200 a day (compliant);
- no-home-mailbox: main.cf says nothing about mailboxes: Debian's local(8) writes /var/mail/$USER (mbox);
- postfwd-by-client: postfwd's rate limit is keyed by client_address, not by account;
- lmtp-packaged-dovecot: Postfix hands mail to Dovecot over LMTP; dovecot.conf includes conf.d/*.conf and
  the stack replaces 10-master.conf but not Debian's 10-mail.conf (mbox);
- cluebringer-virtual: virtual(8) mailboxes ending in '/', cluebringer quotas per SASL user (compliant).
"""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

case = pulumi.Config().get("case") or "procmail-postfwd"
HOST = "mail.example.net"
connection = command.remote.ConnectionArgs(host=HOST, user="root", private_key=pulumi.Output.secret("not-a-real-key"))
ACCOUNT = {"id": "0123456789abcdef0123456789abcdef"}

zone = cloudflare.Zone("zone", account=ACCOUNT, name="example.net")
reverse = cloudflare.Zone("reverse", account=ACCOUNT, name="100.51.198.in-addr.arpa")
cloudflare.DnsRecord("mx", zone_id=zone.id, name="example.net", type="MX", content="mail.example.net", priority=10,
                     ttl=1)
cloudflare.DnsRecord("mail-a", zone_id=zone.id, name="mail.example.net", type="A", content="198.51.100.25", ttl=1)
cloudflare.DnsRecord("spf", zone_id=zone.id, name="example.net", type="TXT", content="v=spf1 mx -all", ttl=1)
cloudflare.DnsRecord("mail-ptr", zone_id=reverse.id, name="25.100.51.198.in-addr.arpa", type="PTR",
                     content="mail.example.net", ttl=1)


def deliver(name: str, path: str, text: str) -> None:
    command.remote.CopyToRemote(name, connection=connection, source=pulumi.StringAsset(text), remote_path=path)


# postfwd (Debian's defaults: 127.0.0.1:10040) in every case but cluebringer-virtual.
POLICY = "check_policy_service inet:127.0.0.1:" + ("10031" if case == "cluebringer-virtual" else "10040")
MAILBOX = {
    "procmail-postfwd": 'mailbox_command = /usr/bin/procmail -a "$EXTENSION"\n',
    "postfwd-by-client": "home_mailbox = Maildir/\n",
    "no-home-mailbox": "",
    "lmtp-packaged-dovecot": "mailbox_transport = lmtp:unix:private/dovecot-lmtp\n",
    "cluebringer-virtual": "mydestination = localhost\nhome_mailbox = Maildir/\n"
                           "virtual_mailbox_domains = example.org\nvirtual_mailbox_base = /var/vmail\n"
                           "virtual_mailbox_maps = hash:/etc/postfix/vmailbox\n"
                           "virtual_uid_maps = static:5000\nvirtual_gid_maps = static:5000\n",
}[case]

deliver("main-cf", "/etc/postfix/main.cf", f"""# /etc/postfix/main.cf, written by hand
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
compatibility_level = 3.6
myhostname = mail.example.net
myorigin = /etc/mailname
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
inet_interfaces = all
message_size_limit = 26214400
mailbox_size_limit = 0
{MAILBOX}smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_recipient_restrictions =
    {POLICY},
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination
""")
deliver("master-cf", "/etc/postfix/master.cf", """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
submissions inet n      -       y       -       -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
smtp      unix  -       -       y       -       -       smtp
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
""")

if case == "procmail-postfwd":
    script = """set -e
export DEBIAN_FRONTEND=noninteractive
apt-get install -y postfix procmail postfwd
cat > /etc/procmailrc <<'EOF'
# deliver into each user's Maildir (procmailrc(5): a trailing / is a maildir)
MAILDIR=$HOME/Maildir
DEFAULT=$MAILDIR/
EOF
systemctl restart postfix
"""
    command.remote.Command("setup-mail", connection=connection, create=script, update=script)
if case != "cluebringer-virtual":
    item = "client_address" if case == "postfwd-by-client" else "sasl_username"
    deliver("postfwd-rules", "/etc/postfix/postfwd.cf", f"""# postfwd(8) ruleset
id=DAILY ; protocol_state==RCPT
    action=rate({item}/200/86400/450 4.7.1 daily limit of 200 recipients reached)
""")
if case == "lmtp-packaged-dovecot":
    deliver("dovecot-conf", "/etc/dovecot/dovecot.conf", "protocols = imap lmtp\n!include conf.d/*.conf\n")
    deliver("dovecot-master", "/etc/dovecot/conf.d/10-master.conf", """service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
""")
if case == "cluebringer-virtual":
    deliver("vmailbox", "/etc/postfix/vmailbox", "info@example.org   example.org/info/\nsales@example.org  "
            "example.org/sales/\n")
    deliver("cluebringer-conf", "/etc/cluebringer/cluebringer.conf", """[server]
modules=<<EOT
Core
Quotas
EOT
port=10031

[database]
DSN=DBI:SQLite:dbname=/var/lib/cluebringer/cluebringer.sqlite

[Quotas]
enable=1
""")
    deliver("cluebringer-quotas", "/etc/cluebringer/quotas.sql", """\
INSERT INTO quotas (PolicyID,Name,Track,Period,Verdict)
  VALUES (1,'Daily per account','SASLUsername',86400,'DEFER');
INSERT INTO quotas_limits (QuotasID,Type,CounterLimit) VALUES (1,'MessageCount',200);
""")
