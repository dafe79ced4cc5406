"""MTA-STS and TLS-RPT set up by hand, as an operator follows RFC 8461 and RFC 8460 on Debian's nginx.

The policy file is delivered by CopyToRemote under the root of an nginx site that a remote.Command
writes with a heredoc (and enables with `ln -s`); the records are Cloudflare DnsRecords.
`mtastshand:case` picks the case:
- compliant: the policy (mode enforce) lists the one MX, the id is the policy's SHA-256 prefix;
- mx-missing: a second MX the enforce policy does not list (senders refuse it: mail lost);
- id-by-date: the id is a date stamp, not derived from the policy text;
- bad-tlsrpt: the TLS-RPT record's rua is a bare address, not a mailto: URI.
"""

import hashlib

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

case = pulumi.Config().get("case") or "compliant"
WEB = "web1.example.net"
ACCOUNT = {"id": "0123456789abcdef0123456789abcdef"}
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.net\r\nmax_age: 604800\r\n"
POLICY_ID = "20260101T000000" if case == "id-by-date" else hashlib.sha256(POLICY.encode()).hexdigest()[:32]
connection = command.remote.ConnectionArgs(host=WEB, user="root", private_key=pulumi.Output.secret("not-a-real-key"))

zone = cloudflare.Zone("zone", account=ACCOUNT, name="example.net")
reverse = cloudflare.Zone("reverse", account=ACCOUNT, name="100.51.198.in-addr.arpa")


def dns(name: str, rtype: str, host: str, content: str, **extra) -> None:
    cloudflare.DnsRecord(name, zone_id=zone.id, name=host, type=rtype, content=content, ttl=1, **extra)


dns("mx", "MX", "example.net", "mail.example.net", priority=10)
if case == "mx-missing":
    dns("mx2", "MX", "example.net", "mx2.example.net", priority=20)
dns("web1-a", "A", WEB, "198.51.100.80")
dns("mail-a", "A", "mail.example.net", "198.51.100.25")
dns("mx2-a", "A", "mx2.example.net", "198.51.100.26")
dns("spf", "TXT", "example.net", "v=spf1 mx -all")
for address, name in (("25", "mail.example.net"), ("26", "mx2.example.net")):
    cloudflare.DnsRecord(f"ptr-{address}", zone_id=reverse.id, name=f"{address}.100.51.198.in-addr.arpa", type="PTR",
                         content=name, ttl=1)
dns("mta-sts", "CNAME", "mta-sts.example.net", WEB)
dns("mta-sts-txt", "TXT", "_mta-sts.example.net", f"v=STSv1; id={POLICY_ID}")
dns("tlsrpt", "TXT", "_smtp._tls.example.net",
    "v=TLSRPTv1; rua=tlsrpt@example.net" if case == "bad-tlsrpt" else "v=TLSRPTv1; rua=mailto:tlsrpt@example.net")

SITE = """cat > /etc/nginx/sites-available/mta-sts <<'EOF'
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name mta-sts.example.net;
    ssl_certificate /etc/letsencrypt/live/mta-sts.example.net/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/mta-sts.example.net/privkey.pem;
    root /var/www/mta-sts;
    location = /.well-known/mta-sts.txt {
        default_type text/plain;
    }
}
EOF
ln -sf /etc/nginx/sites-available/mta-sts /etc/nginx/sites-enabled/mta-sts
systemctl reload nginx
"""
command.remote.Command("mta-sts-site", connection=connection, create=SITE)
command.remote.CopyToRemote("mta-sts-policy", connection=connection, source=pulumi.StringAsset(POLICY),
                            remote_path="/var/www/mta-sts/.well-known/mta-sts.txt")
