"""A mail host that DKIM-signs, set up by hand as an operator does on Debian (opendkim.conf(5), postconf(5)).

OpenDKIM's files come from heredocs in a remote.Command, the private key from a secret config value piped
into `install` (so it never sits in an asset), the public key as a Cloudflare TXT. `dkimhand:case`:
- signed: example.org (DMARC p=reject) is signed with s2026a and its key is published (compliant);
- no-milter: Postfix reaches no milter, so example.org's p=reject rests on SPF alone;
- no-record: OpenDKIM signs with s2026a, but s2026a._domainkey.example.org is not published;
- dmarc-none: no milter, but DMARC is p=none (not judged).
"""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

config = pulumi.Config()
case = config.get("case") or "signed"
private_key = config.require_secret("dkimPrivateKey")
public_key = config.require("dkimPublicKey")
HOST = "mail.example.net"
ACCOUNT = {"id": "0123456789abcdef0123456789abcdef"}
connection = command.remote.ConnectionArgs(host=HOST, user="root", private_key=pulumi.Output.secret("not-a-real-key"))

org = cloudflare.Zone("org", account=ACCOUNT, name="example.org")
net = cloudflare.Zone("net", account=ACCOUNT, name="example.net")
cloudflare.DnsRecord("mail-a", zone_id=net.id, name=HOST, type="A", content="198.51.100.25", ttl=1)
reverse = cloudflare.Zone("reverse", account=ACCOUNT, name="100.51.198.in-addr.arpa")
cloudflare.DnsRecord("mail-ptr", zone_id=reverse.id, name="25.100.51.198.in-addr.arpa", type="PTR", content=HOST,
                     ttl=1)
cloudflare.DnsRecord("mx", zone_id=org.id, name="example.org", type="MX", content=HOST, priority=10, ttl=1)
cloudflare.DnsRecord("spf", zone_id=org.id, name="example.org", type="TXT", content="v=spf1 mx -all", ttl=1)
policy = "none" if case == "dmarc-none" else "reject"
cloudflare.DnsRecord("dmarc", zone_id=org.id, name="_dmarc.example.org", type="TXT",
                     content=f"v=DMARC1; p={policy}; rua=mailto:dmarc@example.org", ttl=1)
if case != "no-record":
    cloudflare.DnsRecord("dkim", zone_id=org.id, name="s2026a._domainkey.example.org", type="TXT",
                         content=f"v=DKIM1; k=rsa; p={public_key}", ttl=1)

milters = "" if case in ("no-milter", "dmarc-none") else (
    "smtpd_milters = inet:localhost:8891\nnon_smtpd_milters = $smtpd_milters\nmilter_default_action = accept\n")
command.remote.CopyToRemote("main-cf", connection=connection, remote_path="/etc/postfix/main.cf",
                            source=pulumi.StringAsset(f"myhostname = {HOST}\n{milters}"))

OPENDKIM = """set -e
apt-get install -y opendkim opendkim-tools
cat > /etc/opendkim.conf <<'END'
Syslog                  yes
Mode                    sv
Socket                  inet:8891@localhost
KeyTable                /etc/opendkim/key.table
SigningTable            refile:/etc/opendkim/signing.table
InternalHosts           /etc/opendkim/trusted.hosts
END
mkdir -p /etc/opendkim
cat > /etc/opendkim/key.table <<'END'
s2026a._domainkey.example.org example.org:s2026a:/etc/dkimkeys/s2026a.private
END
cat > /etc/opendkim/signing.table <<'END'
*@example.org s2026a._domainkey.example.org
END
systemctl restart opendkim
"""
command.remote.Command("opendkim", connection=connection, create=OPENDKIM)
command.remote.Command("dkim-key", connection=connection, stdin=private_key,
                       create="install -m 600 -o opendkim -g opendkim /dev/stdin /etc/dkimkeys/s2026a.private")
