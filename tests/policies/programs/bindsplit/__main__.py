"""A hand-written name server, configured the Debian way: BIND's configuration split across
named.conf, named.conf.options and named.conf.local, each delivered by its own CopyToRemote,
as the BIND 9.18 ARM and Debian's README.Debian have operators write it.

`bindsplit:case` picks the case:
- acl-elsewhere: options use `acl trusted`, named.conf.local defines it (compliant);
- opened-in-local: a view in named.conf.local turns recursion on, and inherits the
  `allow-query { any; }` of named.conf.options (open);
- unseen-include: named.conf.local includes a file the stack does not deliver (not judged);
- rfc2317: the mail host's PTR is reached through a CNAME, RFC 2317 classless delegation
  (Cloudflare holds the /24's reverse zone, our BIND the customer's /26 child zone).
"""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

case = pulumi.Config().get("case") or "acl-elsewhere"
key = pulumi.Output.secret("not-a-real-key")
ACCOUNT = {"id": "0123456789abcdef0123456789abcdef"}


def deliver(name, path, text, host="ns1.example.net"):
    command.remote.CopyToRemote(
        name,
        connection=command.remote.ConnectionArgs(host=host, user="admin", private_key=key),
        source=pulumi.StringAsset(text),
        remote_path=path,
    )


zone = cloudflare.Zone("zone", account=ACCOUNT, name="example.net")
cloudflare.DnsRecord("ns1", zone_id=zone.id, name="ns1.example.net", type="A", content="198.51.100.53", ttl=1)

# /etc/bind/named.conf: Debian's, without named.conf.default-zones at the top (views need every zone in a view).
deliver("named-conf", "/etc/bind/named.conf", """// The primary configuration file of named.
include "/etc/bind/named.conf.options";
include "/etc/bind/named.conf.local";
""")

if case == "acl-elsewhere":
    deliver("named-conf-options", "/etc/bind/named.conf.options", """options {
\tdirectory "/var/cache/bind";
\tdnssec-validation auto;
\tallow-query { any; };
\tallow-recursion { trusted; };
\tallow-query-cache { trusted; };
\tlisten-on-v6 { any; };
};
""")
    deliver("named-conf-local", "/etc/bind/named.conf.local", """acl trusted {
\t198.51.100.0/24;
\t2001:db8:100::/48;
\tlocalhost;
};
include "/etc/bind/named.conf.default-zones";
""")
elif case == "opened-in-local":
    deliver("named-conf-options", "/etc/bind/named.conf.options", """options {
\tdirectory "/var/cache/bind";
\tdnssec-validation auto;
\tallow-query { any; };
};
""")
    deliver("named-conf-local", "/etc/bind/named.conf.local", """view "resolver" {
\tmatch-clients { any; };
\trecursion yes;
\tinclude "/etc/bind/named.conf.default-zones";
};
""")
elif case == "unseen-include":
    deliver("named-conf-options", "/etc/bind/named.conf.options", """options {
\tdirectory "/var/cache/bind";
\tallow-query { any; };
};
""")
    deliver("named-conf-local", "/etc/bind/named.conf.local", """include "/etc/bind/named.conf.views";
""")
elif case == "rfc2317":
    # The mail host 198.51.100.25 is in the customer's 198.51.100.0/26: the /24's reverse zone (on Cloudflare)
    # CNAMEs each address into the child zone 0-63.100.51.198.in-addr.arpa, which our BIND serves.
    deliver("named-conf-local", "/etc/bind/named.conf.local", """zone "0-63.100.51.198.in-addr.arpa" {
\ttype primary;
\tfile "/etc/bind/db.198.51.100.0-63";
};
""")
    deliver("child-zone", "/etc/bind/db.198.51.100.0-63", """$TTL 3600
@\tIN\tSOA\tns1.example.net. hostmaster.example.net. 2026010101 3600 900 1209600 3600
@\tIN\tNS\tns1.example.net.
25\tIN\tPTR\tmail.example.net.
""")
    reverse = cloudflare.Zone("reverse", account=ACCOUNT, name="100.51.198.in-addr.arpa")
    cloudflare.DnsRecord("delegate-0-63", zone_id=reverse.id, name="0-63", type="NS", content="ns1.example.net",
                         ttl=3600)
    cloudflare.DnsRecord("cname-25", zone_id=reverse.id, name="25", type="CNAME",
                         content="25.0-63.100.51.198.in-addr.arpa", ttl=3600)
    cloudflare.DnsRecord("mx", zone_id=zone.id, name="example.net", type="MX", content="mail.example.net",
                         priority=10, ttl=1)
    cloudflare.DnsRecord("mail", zone_id=zone.id, name="mail.example.net", type="A", content="198.51.100.25", ttl=1)
    cloudflare.DnsRecord("spf", zone_id=zone.id, name="example.net", type="TXT",
                         content="v=spf1 ip4:198.51.100.25 -all", ttl=1)
