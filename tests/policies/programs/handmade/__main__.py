"""A colleague's hand-written stack: raw pulumi-cloudflare and pulumi-command resources.

`handmade:broken` lists which lessons to break (policy ids); the rest is written correctly,
so each policy is judged on a violating and a compliant version of the same stack.
"""

import base64
import json

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

broken = set(json.loads(pulumi.Config().get("broken") or "[]"))
# A secret the program makes itself: it must never surface anywhere preflight writes.
key = pulumi.Config().get_secret("sshKey") or pulumi.Output.secret("SSH-KEY-MATERIAL-7f3a9c")


def conn(host):
    return command.remote.ConnectionArgs(host=host, user="admin", private_key=key)


def deliver(name, host, path, text, protect=False):
    command.remote.CopyToRemote(
        name,
        connection=conn(host),
        source=pulumi.StringAsset(text),
        remote_path=path,
        opts=pulumi.ResourceOptions(protect=protect),
    )


zone = cloudflare.Zone(
    "zone",
    account={"id": "0123456789abcdef0123456789abcdef"},
    name="example.net",
    opts=pulumi.ResourceOptions(protect="prod-zones-protected" not in broken),
)


def record(name, rtype, content, priority=None):
    cloudflare.DnsRecord(
        f"{rtype.lower()}-{name}", zone_id=zone.id, name=name, type=rtype, content=content, ttl=1, priority=priority
    )


record("example.net", "MX", "mail.example.net", priority=10)
record("mail.example.net", "A", "198.51.100.25")
record("ns1.example.net", "A", "198.51.100.11")
record("www.example.net", "A", "198.51.100.11" if "dns-not-cohosted-with-web" in broken else "198.51.100.80")
record("example.net", "NS", "ns1.example.net")
spf = "v=spf1 ip4:198.51.100.25 +all" if "spf-valid" in broken else "v=spf1 ip4:198.51.100.25 -all"
record("example.net", "TXT", spf)
record("_dmarc.example.net", "TXT", "v=DMARC1; p=reject")


# DKIM (RFC 6376) as Debian's OpenDKIM does it, so that p=reject does not rest on SPF alone: a key made at run
# time, its public half published (`dkim-record-matches-signing-key` publishes another key's), the milter in
# main.cf (`dmarc-enforcement-needs-dkim` leaves it out).
def dkim_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    spki = private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(spki).decode()


signing_pem, signing_public = dkim_key()
published = dkim_key()[1] if "dkim-record-matches-signing-key" in broken else signing_public
record("hm2026._domainkey.example.net", "TXT", f"v=DKIM1; k=rsa; p={published}")
# A name that accepts no mail (RFC 7505): the null MX alone, SPF passing nobody; the apex's p=reject covers it.
record("noreply.example.net", "MX", ".", priority=0)
if "null-mx-alone" in broken:
    cloudflare.DnsRecord("mx-noreply-second", zone_id=zone.id, name="noreply", type="MX",
                         content="mail.example.net", priority=20, ttl=1)
record("noreply.example.net", "TXT", "v=spf1 ~all" if "null-mx-sends-nothing" in broken else "v=spf1 -all")

ptr = "" if "mail-host-fcrdns" in broken else "25\tIN\tPTR\tmail.example.net.\n"
deliver(
    "reverse-zone",
    "ns1.example.net",
    "/etc/bind/db.100.51.198.in-addr.arpa",
    f"""$ORIGIN 100.51.198.in-addr.arpa.
$TTL 3600
@\tIN\tSOA\tns1.example.net. hostmaster.example.net. 2026112401 3600 900 1209600 3600
@\tIN\tNS\tns1.example.net.
{ptr}80\tIN\tPTR\twww.example.net.
""",
    protect="prod-zones-protected" not in broken,
)

recursion = "" if "no-open-recursion" in broken else "\tallow-recursion { 198.51.100.0/24; 10.0.0.0/24; };\n"
deliver(
    "named-conf",
    "ns1.example.net",
    "/etc/bind/named.conf",
    f"""options {{
\tdirectory "/var/cache/bind";
\tallow-query {{ any; }};
{recursion}}};
zone "100.51.198.in-addr.arpa" {{ type primary; file "/etc/bind/db.100.51.198.in-addr.arpa"; }};
""",
)

web_host = "ns1.example.net" if "dns-not-cohosted-with-web" in broken else "www.example.net"
deliver(
    "www-site",
    web_host,
    "/etc/nginx/sites-available/www.example.net",
    """server {
\tlisten 80;
\tserver_name www.example.net;
\troot /var/www/html;
}
""",
)

myhostname = "smtp.example.net" if "smtp-banner-matches-ptr" in broken else "mail.example.net"
policy = "" if "daily-send-limit" in broken else "check_policy_service unix:private/policyd, "
size = "0" if "message-size-limit" in broken else "26214400"
mailbox = "Mailbox" if "maildir-not-mbox" in broken else "Maildir/"
milters = "" if "dmarc-enforcement-needs-dkim" in broken else (
    "smtpd_milters = inet:localhost:8891\nnon_smtpd_milters = $smtpd_milters\n")
deliver(
    "main-cf",
    "mail.example.net",
    "/etc/postfix/main.cf",
    f"""myhostname = {myhostname}
smtpd_banner = $myhostname ESMTP
smtp_bind_address = 10.0.0.25
home_mailbox = {mailbox}
message_size_limit = {size}
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_recipient_restrictions = {policy}permit_sasl_authenticated, reject_unauth_destination
{milters}""",
)
deliver("opendkim-conf", "mail.example.net", "/etc/opendkim.conf", """Syslog yes
UserID opendkim
Mode sv
Socket inet:8891@localhost
KeyTable /etc/opendkim/key.table
SigningTable refile:/etc/opendkim/signing.table
InternalHosts /etc/opendkim/trusted.hosts
""")
deliver("opendkim-keys", "mail.example.net", "/etc/opendkim/key.table",
        "hm2026._domainkey.example.net example.net:hm2026:/etc/dkimkeys/hm2026.private\n")
deliver("opendkim-signing", "mail.example.net", "/etc/opendkim/signing.table",
        "*@example.net hm2026._domainkey.example.net\n")
deliver("opendkim-trusted", "mail.example.net", "/etc/opendkim/trusted.hosts", "127.0.0.1\n::1\n10.0.0.0/24\n")
deliver("opendkim-key", "mail.example.net", "/etc/dkimkeys/hm2026.private", signing_pem)
auth = (
    ""
    if "submission-requires-auth" in broken
    else ("  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n")
)
deliver(
    "master-cf",
    "mail.example.net",
    "/etc/postfix/master.cf",
    f"""smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
{auth}submissions inet n      -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
{auth}""",
)
deliver(
    "policyd",
    "mail.example.net",
    "/etc/policyd-rate-limit.yaml",
    """SOCKET: "/var/spool/postfix/private/policyd"
limit_by_sasl: true
limit_by_ip: false
limits:
  - [200, 86400]
""",
)

egress = (
    ""
    if "customer-smtp-egress-blocked" in broken
    else (
        "\t\tip saddr 203.0.113.0/24 ip daddr 198.51.100.25 tcp dport 25 accept\n"
        "\t\tip saddr 203.0.113.0/24 tcp dport 25 reject with tcp reset\n"
    )
)
snat = "198.51.100.99" if "mail-nat-symmetric" in broken else "198.51.100.25"
deliver(
    "ruleset",
    "gw.example.net",
    "/etc/nftables.conf",
    f"""flush ruleset
table inet filter {{
\tchain forward {{
\t\ttype filter hook forward priority 0; policy drop;
\t\tct state established,related accept
{egress}\t\tip saddr 203.0.113.0/24 accept
\t}}
}}
table ip nat {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority -100;
\t\tip daddr 198.51.100.25 dnat to 10.0.0.25
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority 100;
\t\tip saddr 10.0.0.25 snat to {snat}
\t\tip saddr 203.0.113.0/24 masquerade
\t}}
}}
""",
)


# Lesson 10: Roundcube on www.example.net, HTTPS only, its certificate provided (default) or from
# ACME (`webmail-acme`); `webmail-acme-wrong-name` asks the CA for another name,
# `webmail-plain-http` serves webmail on port 80 without redirecting.
def self_signed(names):
    """A certificate (and its key) made at run time: valid from an hour ago for 90 days."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


acme = bool({"webmail-acme", "webmail-acme-wrong-name"} & broken)
if acme:
    webmail_cert = "/etc/letsencrypt/live/webmail.example.net/fullchain.pem"
    asked = "www.example.net" if "webmail-acme-wrong-name" in broken else "webmail.example.net"
    command.remote.Command(
        "certbot",
        connection=conn("www.example.net"),
        create=f"certbot certonly --non-interactive --agree-tos -m hostmaster@example.net --webroot "
        f"-w /var/www/acme --cert-name webmail.example.net -d {asked}",
    )
else:
    webmail_cert = "/etc/ssl/webmail/fullchain.pem"
    names = ["www.example.net"] if "webmail-certificate-matches" in broken else ["webmail.example.net"]
    chain, private_key = self_signed(names)
    deliver("webmail-cert", "www.example.net", webmail_cert, chain)
    command.remote.CopyToRemote(
        "webmail-key",
        connection=conn("www.example.net"),
        source=pulumi.Output.secret(private_key).apply(pulumi.StringAsset),
        remote_path="/etc/ssl/webmail/privkey.pem",
    )
port_80 = (
    "\troot /usr/share/roundcube;\n"
    if "webmail-plain-http" in broken
    else "\tlocation /.well-known/acme-challenge/ { root /var/www/acme; }\n"
    "\tlocation / { return 301 https://webmail.example.net$request_uri; }\n"
)
deliver(
    "webmail-site",
    "www.example.net",
    "/etc/nginx/sites-available/webmail.example.net",
    f"""server {{
\tlisten 80;
\tserver_name webmail.example.net;
{port_80}}}
server {{
\tlisten 443 ssl;
\tserver_name webmail.example.net;
\tssl_certificate {webmail_cert};
\tssl_certificate_key {webmail_cert.replace("fullchain", "privkey")};
\troot /usr/share/roundcube;
}}
""",
)

# Lesson 9: PostgreSQL on db1, dumped per database every night by a cron job (`one-dump-per-database`
# dumps everything with pg_dumpall instead; `no-db-backup` has no job at all).
deliver("postgresql-conf", "db1.example.net", "/etc/postgresql/15/main/postgresql.conf", "listen_addresses = ''\n")
if "one-dump-per-database" in broken:
    deliver(
        "backup-cron",
        "db1.example.net",
        "/etc/cron.d/backup-databases",
        "30 2 * * * postgres pg_dumpall | gzip > /var/backups/all-$(date +\\%F).sql.gz\n",
    )
elif "no-db-backup" not in broken:
    deliver(
        "backup-script",
        "db1.example.net",
        "/usr/local/bin/backup-databases",
        """#!/bin/sh
set -u
cd /var/backups/db || exit 1
pg_dumpall --globals-only | gzip > globals.sql.gz
psql -Atc "select datname from pg_database where datallowconn and not datistemplate" | while read -r db; do
\tpg_dump -Fc -f "$db.dump" "$db" || echo "backup of $db failed" >&2
done
""",
    )
    deliver(
        "backup-cron",
        "db1.example.net",
        "/etc/cron.d/backup-databases",
        "30 2 * * * postgres /usr/local/bin/backup-databases\n",
    )
