"""Postfix `main.cf` and `master.cf` for the ISP's mail host.

Lessons carried: 1 (customers submit through us, authenticated), 2 (per-account daily limit via a
policy service), 4 (SMTP AUTH and submission on 587/465/2525), 5 and 7 (banner = HELO = PTR name,
sending from the private address the gateway maps 1:1), 11 (message size limits, smaller for
dial-up), 12 (Maildir, never mbox).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from components.render import quoting
from components.render.ratelimit import parse_policy_endpoint

# Ports a customer's mail program may submit on (lesson 4); 587 and 465 are always offered.
SUBMISSION_SERVICE_NAMES = {587: "submission", 465: "submissions", 2525: "2525"}
REQUIRED_SUBMISSION_PORTS = (587, 465)
# Listeners for dial-up pools with the smaller message size limit; the gateway redirects the
# dial-up pools' 25/587/2525 to the STARTTLS one and 465 to the TLS-wrapper one.
DIALUP_SUBMISSION_PORT = 10587
DIALUP_SUBMISSIONS_PORT = 10465
# Postfix stores message_size_limit in a C long but several tools treat it as int.
_MAX_MESSAGE_SIZE = 2**31 - 1
_LOOPBACK_NETWORKS = "127.0.0.0/8 [::1]/128"


def render_postfix_main_cf(
    *,
    hostname_fqdn: str,
    domain: str,
    private_address: str | ipaddress.IPv4Address,
    message_size_limit_bytes: int,
    policy_service: str,
    tls_cert_path: str,
    tls_key_path: str,
    own_networks: Sequence[str] = (),
    customer_pools: Sequence[str] = (),
    relay_domains: Sequence[str] = (),
    ipv6_address: str | ipaddress.IPv6Address | None = None,
    dkim_milter_port: int | None = None,
) -> str:
    """`main.cf` for the mail host.

    Lessons: 5 (`myhostname` is the PTR name; banner and HELO say `$myhostname`), 7
    (`smtp_bind_address` is the private address the gateway maps 1:1 to the public one, so mail
    leaves from the address it is received on), 12 (`home_mailbox = Maildir/`: the trailing slash
    selects Maildir), 11 (`message_size_limit`), 4 (SASL through Dovecot, AUTH only over TLS),
    1 (relaying needs SASL: `mynetworks` is loopback plus `own_networks`, never a customer pool),
    2 (`check_policy_service` keyed by SASL user in `smtpd_recipient_restrictions`, the only
    stage policyd-rate-limit counts; see ratelimit.py).

    `policy_service`: `inet:127.0.0.1:8552`, or a unix socket below /var/spool/postfix
    (`unix:ratelimit/policy` or its absolute path). `own_networks` are our own server networks
    allowed to relay without a login (e.g. web hosts' contact forms); overlapping
    `customer_pools` is refused. Without `ipv6_address` Postfix speaks IPv4 only, because mail
    sent over IPv6 from an address with no matching PTR breaks FCrDNS.

    `dkim_milter_port`: OpenDKIM listening on localhost at that port (components/render/opendkim.py)
    signs mail from every smtpd (SMTP, submission) and from local submission (postconf(5)
    smtpd_milters, non_smtpd_milters); None leaves the milter lines out.
    """
    hostname_fqdn = quoting.fqdn(hostname_fqdn, "hostname_fqdn")
    domain = quoting.fqdn(domain, "domain")
    private = quoting.ip_address(private_address, "private_address", version=4)
    size_limit = quoting.positive_int(message_size_limit_bytes, "message_size_limit_bytes", maximum=_MAX_MESSAGE_SIZE)
    policy = parse_policy_endpoint(policy_service, "policy_service").postfix_form("policy_service")
    cert = quoting.absolute_path(tls_cert_path, "tls_cert_path")
    key = quoting.absolute_path(tls_key_path, "tls_key_path")
    trusted = quoting.ip_networks(own_networks, "own_networks")
    pools = quoting.ip_networks(customer_pools, "customer_pools")
    if overlap := quoting.first_overlap(trusted, pools):
        network, pool = overlap
        raise quoting.RenderValueError(
            "own_networks", str(network), f"overlaps customer pool {pool}: customers must authenticate to relay"
        )
    relays = [
        quoting.fqdn(name, f"relay_domains[{i}]")
        for i, name in enumerate(quoting.listing(relay_domains, "relay_domains"))
    ]
    quoting.unique(relays, "relay_domains")
    for name in relays:
        if name in {domain, hostname_fqdn}:
            raise quoting.RenderValueError("relay_domains", name, "is delivered locally (mydestination), not relayed")

    if ipv6_address is None:
        protocols = "inet_protocols = ipv4"
    else:
        ipv6 = quoting.ip_address(ipv6_address, "ipv6_address", version=6)
        protocols = f"inet_protocols = all\nsmtp_bind_address6 = {ipv6}"
    mynetworks = " ".join([_LOOPBACK_NETWORKS, *(_postfix_network(net) for net in trusted)])
    escaped_domain = domain.replace(".", "\\.")
    milters = "" if dkim_milter_port is None else _DKIM_MILTER.format(
        port=quoting.port(dkim_milter_port, "dkim_milter_port"))

    return f"""\
# Postfix main.cf for {hostname_fqdn}. Rendered by the ISP program; edits are overwritten.
compatibility_level = 3.6

# Lesson 5: the name the PTR record gives for our public address, announced in the banner
# and in HELO, so that PTR, A and banner agree (FCrDNS).
myhostname = {hostname_fqdn}
mydomain = {domain}
myorigin = $mydomain
smtpd_banner = $myhostname ESMTP
smtp_helo_name = $myhostname
# Lesson 7: the gateway maps this private address 1:1 to our public address (dnat and snat).
smtp_bind_address = {private}
inet_interfaces = all
{protocols}

mydestination = $myhostname, localhost.$mydomain, localhost, $mydomain
relay_domains = {", ".join(relays)}
# Lesson 1: only loopback and our own servers relay without a login; customer pools never do.
mynetworks = {mynetworks}
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
recipient_delimiter = +
biff = no
append_dot_mydomain = no
readme_directory = no

# Lesson 12: the trailing slash selects Maildir; without it Postfix writes an mbox file.
home_mailbox = Maildir/
# Lesson 11: largest accepted message. 0 lifts the per-file cap, which must never be
# below message_size_limit.
message_size_limit = {size_limit}
mailbox_size_limit = 0

# Lesson 4: SMTP AUTH through Dovecot. Enabled on port 25 too (customers may reach our
# mail host on 25 through the gateway) but only after STARTTLS.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_security_options = noanonymous
smtpd_sasl_authenticated_header = no
smtpd_tls_auth_only = yes

smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_CApath = /etc/ssl/certs
smtp_tls_session_cache_database = btree:${{data_directory}}/smtp_scache
smtp_tls_loglevel = 1

disable_vrfy_command = yes
smtpd_helo_required = yes
smtpd_helo_restrictions = permit_mynetworks, permit_sasl_authenticated,
    reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
# An address of our domain belongs to the login of the same name: customers cannot send as
# each other, and nobody unauthenticated uses our domain (our SPF ends in -all anyway).
smtpd_sender_login_maps = regexp:{{{{/^([^@+]+)(\\+[^@]*)?@{escaped_domain}$$/ $${{1}}}}}}
smtpd_sender_restrictions = reject_non_fqdn_sender, permit_mynetworks, reject_known_sender_login_mismatch
# Lesson 1: relaying needs a login.
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# Lesson 2: the daily limit per SASL account. policyd-rate-limit only counts at RCPT, hence here.
# No default_action: if the service is down Postfix answers 451, deferring mail rather than
# lifting the cap.
smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unknown_recipient_domain, check_policy_service {policy}
{milters}"""


# postconf(5): milter_default_action applies when the milter is down or answers garbage. `accept`: mail
# keeps flowing unsigned rather than queueing up; a receiver then judges it on SPF alone.
_DKIM_MILTER = """
# Lesson 6: OpenDKIM signs mail of our domains (RFC 6376) from logged-in customers and our own hosts.
smtpd_milters = inet:localhost:{port}
non_smtpd_milters = $smtpd_milters
milter_default_action = accept
"""


def render_postfix_master_cf(
    *,
    submission_ports: Sequence[int] = (587, 465, 2525),
    dialup_message_size_limit_bytes: int | None = None,
    dialup_port: int = DIALUP_SUBMISSION_PORT,
    dialup_tls_wrapper_port: int = DIALUP_SUBMISSIONS_PORT,
    message_size_limit_bytes: int | None = None,
) -> str:
    """`master.cf`: Debian's stock services plus the submission listeners.

    Lesson 4: `submission` (587, STARTTLS) and `submissions` (465, implicit TLS) always, `2525`
    when asked; each requires SASL (`smtpd_client_restrictions=permit_sasl_authenticated,reject`)
    and TLS before AUTH. Port 25 stays the MX port.

    Lesson 11, dial-up pools: `-o message_size_limit=` on a dedicated pair of listeners
    (`dialup_port` STARTTLS, `dialup_tls_wrapper_port` implicit TLS). Postfix can only vary the
    size limit per service, not per client network, and a customer cannot be trusted to pick
    the right port, so the gateway redirects the dial-up pools' 25/587/2525 and 465 to these
    ports (render_gateway_ruleset(dialup_pools=...)). Customers keep their settings; the limit
    holds. smtpd enforces the per-service limit itself (SIZE and DATA). Pass main.cf's
    `message_size_limit_bytes` to have the dial-up limit checked to be the smaller one.
    """
    ports = [
        quoting.port(value, f"submission_ports[{i}]")
        for i, value in enumerate(quoting.listing(submission_ports, "submission_ports"))
    ]
    quoting.unique(ports, "submission_ports")
    for value in ports:
        if value not in SUBMISSION_SERVICE_NAMES:
            raise quoting.RenderValueError("submission_ports", value, "must be one of 587, 465, 2525")
    for required in REQUIRED_SUBMISSION_PORTS:
        if required not in ports:
            raise quoting.RenderValueError("submission_ports", submission_ports, f"must include {required}")

    services = [
        _submission_service(name, wrapper=value == 465)
        for value, name in SUBMISSION_SERVICE_NAMES.items()
        if value in ports
    ]
    if dialup_message_size_limit_bytes is not None:
        dialup_limit = quoting.positive_int(
            dialup_message_size_limit_bytes, "dialup_message_size_limit_bytes", maximum=_MAX_MESSAGE_SIZE
        )
        if message_size_limit_bytes is not None and dialup_limit >= quoting.positive_int(
            message_size_limit_bytes, "message_size_limit_bytes"
        ):
            raise quoting.RenderValueError(
                "dialup_message_size_limit_bytes",
                dialup_limit,
                f"must be below message_size_limit ({message_size_limit_bytes})",
            )
        starttls_port = quoting.port(dialup_port, "dialup_port")
        wrapper_port = quoting.port(dialup_tls_wrapper_port, "dialup_tls_wrapper_port")
        taken = {25, *SUBMISSION_SERVICE_NAMES}
        for name, value in (("dialup_port", starttls_port), ("dialup_tls_wrapper_port", wrapper_port)):
            if value in taken:
                raise quoting.RenderValueError(name, value, "collides with another mail listener")
            taken.add(value)
        size = f"  -o message_size_limit={dialup_limit}\n"
        services.append(
            "# Lesson 11: dial-up pools (redirected here by the gateway) get a smaller size limit.\n"
            + _submission_service(str(starttls_port), wrapper=False, syslog="dialup-submission")
            + size
        )
        services.append(_submission_service(str(wrapper_port), wrapper=True, syslog="dialup-submissions") + size)

    return _STOCK_MASTER_CF + "\n# Lesson 4: authenticated submission for customers.\n" + "".join(services)


def _submission_service(name: str, *, wrapper: bool, syslog: str | None = None) -> str:
    tls = "  -o smtpd_tls_wrappermode=yes\n" if wrapper else ""
    return f"""\
{name:<10} inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/{syslog or name}
{tls}  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""


def _postfix_network(network: quoting.IPNetwork) -> str:
    # Postfix writes IPv6 networks in brackets in mynetworks.
    return f"[{network.network_address}]/{network.prefixlen}" if network.version == 6 else str(network)


# Debian's master.cf services (postfix 3.7), without the optional pipe transports for software
# we do not run (maildrop, uucp, ifmail, bsmtp, scalemail, mailman).
_STOCK_MASTER_CF = """\
# Postfix master.cf. Rendered by the ISP program; edits are overwritten.
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
  -o syslog_name=postfix/$service_name
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
