"""A hand-written stack serving webmail with the web server an ISP picks: raw pulumi-cloudflare and
pulumi-command resources, config files as operators write them from the daemons' docs.

`webhosts:case` chooses the stack:
- `apache-www-cert`: Apache on web1, the webmail vhost enabled by `a2ensite`, its certificate issued
  for www only (lesson 10 broken);
- `caddy-auto`: Caddy on web1, webmail with Caddy's automatic HTTPS (compliant);
- `lighttpd-wildcard`: lighttpd on web1, a `*.example.net` certificate, HTTP redirected (compliant);
- `apache-on-ns`: the name server's setup command also installs Apache (lesson 8 broken);
- `nginx-snippet-www-cert`: nginx on web1, the certificate named in an included snippet, issued for
  www only (lesson 10 broken).
"""

import datetime

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

case = pulumi.Config().require("case")
key = pulumi.Output.secret("SSH-KEY-MATERIAL-not-real")


def conn(host):
    return command.remote.ConnectionArgs(host=host, user="root", private_key=key)


def deliver(name, host, path, text):
    command.remote.CopyToRemote(name, connection=conn(host), source=pulumi.StringAsset(text), remote_path=path)


def run(name, host, script):
    command.remote.Command(name, connection=conn(host), create=script)


def certificate(names):
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(private, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    )


zone = cloudflare.Zone("zone", account={"id": "0123456789abcdef0123456789abcdef"}, name="example.net")
for name, rtype, content in [("example.net", "NS", "ns1.example.net"), ("ns1.example.net", "A", "198.51.100.53"),
                             ("web1.example.net", "A", "198.51.100.80"), ("www.example.net", "A", "198.51.100.80"),
                             ("webmail.example.net", "CNAME", "web1.example.net")]:
    cloudflare.DnsRecord(f"{rtype.lower()}-{name}", zone_id=zone.id, name=name, type=rtype, content=content, ttl=1)

deliver("named-conf", "ns1.example.net", "/etc/bind/named.conf.options", """options {
\tdirectory "/var/cache/bind";
\trecursion no;
\tallow-query { any; };
};
""")
run("ns-setup", "ns1.example.net", "apt-get update\nDEBIAN_FRONTEND=noninteractive apt-get install -y bind9"
    + (" apache2" if case == "apache-on-ns" else "") + "\nsystemctl restart named\n")

if case in ("apache-www-cert", "apache-on-ns"):
    names = ["www.example.net"] if case == "apache-www-cert" else ["webmail.example.net"]
    deliver("webmail-cert", "web1.example.net", "/etc/ssl/certs/webmail.example.net.pem", certificate(names))
    deliver("webmail-vhost", "web1.example.net", "/etc/apache2/sites-available/webmail.conf", """<VirtualHost *:80>
    ServerName webmail.example.net
    Redirect permanent / https://webmail.example.net/
</VirtualHost>

<IfModule mod_ssl.c>
<VirtualHost *:443>
    ServerName webmail.example.net
    DocumentRoot /var/lib/roundcube/public_html
    SSLEngine on
    SSLCertificateFile /etc/ssl/certs/webmail.example.net.pem
    SSLCertificateKeyFile /etc/ssl/private/webmail.example.net.key
</VirtualHost>
</IfModule>
""")
    run("web-setup", "web1.example.net", "apt-get install -y apache2 roundcube\na2enmod ssl\na2ensite webmail\n"
        "systemctl reload apache2\n")
elif case == "caddy-auto":
    deliver("caddyfile", "web1.example.net", "/etc/caddy/Caddyfile", """{
\temail hostmaster@example.net
}

webmail.example.net {
\troot * /var/lib/roundcube/public_html
\tphp_fastcgi unix//run/php/php8.2-fpm.sock
\tfile_server
}
""")
    run("web-setup", "web1.example.net", "apt-get install -y caddy\nsystemctl reload caddy\n")
elif case == "lighttpd-wildcard":
    deliver("wildcard-cert", "web1.example.net", "/etc/lighttpd/certs/example.net.pem", certificate(["*.example.net"]))
    deliver("webmail-conf", "web1.example.net", "/etc/lighttpd/conf-available/90-webmail.conf", """\
server.modules += ( "mod_openssl", "mod_redirect", "mod_alias" )
$SERVER["socket"] == ":443" {
    ssl.engine = "enable"
    ssl.pemfile = "/etc/lighttpd/certs/example.net.pem"
}
$HTTP["scheme"] == "http" {
    url.redirect = ("" => "https://${url.authority}${url.path}${qsa}")
    url.redirect-code = 308
}
$HTTP["host"] == "webmail.example.net" {
    alias.url += ( "/" => "/var/lib/roundcube/public_html/" )
}
""")
    run("web-setup", "web1.example.net", "apt-get install -y lighttpd\nlighty-enable-mod webmail\n"
        "service lighttpd force-reload\n")
elif case == "nginx-snippet-www-cert":
    deliver("www-cert", "web1.example.net", "/etc/ssl/web/www.pem", certificate(["www.example.net"]))
    deliver("tls-snippet", "web1.example.net", "/etc/nginx/snippets/tls-web.conf",
            "ssl_certificate /etc/ssl/web/www.pem;\nssl_certificate_key /etc/ssl/web/www.key;\n")
    deliver("webmail-site", "web1.example.net", "/etc/nginx/sites-enabled/webmail", """server {
\tlisten 80;
\tserver_name webmail.example.net;
\treturn 301 https://$host$request_uri;
}
server {
\tlisten 443 ssl http2;
\tserver_name webmail.example.net;
\tinclude snippets/tls-web.conf;
\troot /usr/share/roundcube;
}
""")
else:
    raise ValueError(f"unknown case {case!r}")
