"""A name server set up by hand with shell in `command.remote.Command`, as operators script a Debian
host (bind9's README.Debian: options in /etc/bind/named.conf.options, zones in named.conf.local).

`commandtext:case` picks the case:
- heredoc-open: `cat > /etc/bind/named.conf.options <<'EOF'` with `recursion yes; allow-recursion { any; };`
  (open resolver);
- heredoc-closed: the same script, recursion for our own blocks only (compliant);
- staged-open: the options file is copied to /tmp by CopyToRemote, then `install`ed into /etc/bind/ by the
  command (open resolver);
- runtime-text: the heredoc expands `$(hostname -I)`, known only when the command runs (not judged).
"""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

case = pulumi.Config().get("case") or "heredoc-closed"
connection = command.remote.ConnectionArgs(host="ns1.example.net", user="root",
                                           private_key=pulumi.Output.secret("not-a-real-key"))
ACCOUNT = {"id": "0123456789abcdef0123456789abcdef"}

zone = cloudflare.Zone("zone", account=ACCOUNT, name="example.net")
cloudflare.DnsRecord("ns1", zone_id=zone.id, name="ns1.example.net", type="A", content="198.51.100.53", ttl=1)

OPEN = """options {
\tdirectory "/var/cache/bind";
\trecursion yes;
\tallow-recursion { any; };
};
"""
CLOSED = """acl ours { 198.51.100.0/24; 2001:db8:100::/48; localhost; };
options {
\tdirectory "/var/cache/bind";
\trecursion yes;
\tallow-recursion { ours; };
\tallow-query-cache { ours; };
};
"""
RUNTIME = """options {
\tdirectory "/var/cache/bind";
\tlisten-on { $(hostname -I | cut -d' ' -f1); };
\tallow-recursion { any; };
};
"""

INSTALL = "set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get update\napt-get install -y bind9 bind9-utils\n"
RELOAD = "named-checkconf\nsystemctl enable --now named\nsystemctl reload named\n"

if case == "staged-open":
    staged = command.remote.CopyToRemote("named-options-staged", connection=connection,
                                         source=pulumi.StringAsset(OPEN), remote_path="/tmp/named.conf.options")
    command.remote.Command("setup-bind", connection=connection,
                           create=INSTALL + "install -m 0644 -o root -g bind /tmp/named.conf.options /etc/bind/\n"
                           + RELOAD, opts=pulumi.ResourceOptions(depends_on=[staged]))
else:
    body = {"heredoc-open": OPEN, "heredoc-closed": CLOSED, "runtime-text": RUNTIME}[case]
    delimiter = "EOF" if case == "runtime-text" else "'EOF'"
    script = f"{INSTALL}cat > /etc/bind/named.conf.options <<{delimiter}\n{body}EOF\n{RELOAD}"
    command.remote.Command("setup-bind", connection=connection, create=script, update=script)
