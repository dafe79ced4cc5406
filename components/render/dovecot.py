"""Dovecot for the ISP's mail host: IMAP over TLS, and the SASL service Postfix authenticates through.

Lessons carried: 12 (Maildir, never mbox: Debian's stock config reads mbox from /var/mail), 4 (SMTP
AUTH: Postfix's `smtpd_sasl_type = dovecot` talks to the auth socket rendered here).
"""

from __future__ import annotations

from components.render import quoting

# The socket Postfix's `smtpd_sasl_path = private/auth` names, inside Postfix's chroot.
POSTFIX_AUTH_SOCKET = "/var/spool/postfix/private/auth"
IMAPS_PORT = 993  # IMAP over implicit TLS (RFC 8314 §3.3): the port the gateway publishes for each mail host


def render_dovecot_conf(
    *,
    hostname_fqdn: str,
    tls_cert_path: str,
    tls_key_path: str,
    postmaster_address: str | None = None,
) -> str:
    """A standalone `dovecot.conf` (it includes nothing, so `doveconf -n -c FILE` reads all of it).

    Lesson 12: `mail_location = maildir:~/Maildir`, the same directory Postfix's
    `home_mailbox = Maildir/` delivers to. Lesson 4: the auth service listens on
    /var/spool/postfix/private/auth (mode 0660, user and group postfix) for Postfix SASL;
    plaintext auth only inside TLS (`disable_plaintext_auth = yes`, `ssl = required`).
    Accounts are the host's system users (PAM), whose login is the local part of their address.
    """
    hostname_fqdn = quoting.fqdn(hostname_fqdn, "hostname_fqdn")
    cert = quoting.absolute_path(tls_cert_path, "tls_cert_path")
    key = quoting.absolute_path(tls_key_path, "tls_key_path")
    postmaster = quoting.mail_address(
        postmaster_address if postmaster_address is not None else f"postmaster@{hostname_fqdn}", "postmaster_address"
    )

    return f"""\
# Dovecot for {hostname_fqdn}. Rendered by the ISP program; edits are overwritten.
# Standalone on purpose: it includes no other file, so what is here is all that runs.
protocols = imap
listen = *, ::
hostname = {hostname_fqdn}
postmaster_address = {postmaster}

# Lesson 12: Maildir under each user's home, where Postfix (home_mailbox = Maildir/) delivers.
mail_location = maildir:~/Maildir
first_valid_uid = 1000

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}

# Passwords only inside TLS.
disable_plaintext_auth = yes
auth_mechanisms = plain login
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
ssl_prefer_server_ciphers = yes

passdb {{
  driver = pam
}}
userdb {{
  driver = passwd
}}

service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = {IMAPS_PORT}
    ssl = yes
  }}
}}

# Lesson 4: Postfix's SMTP AUTH (smtpd_sasl_type = dovecot, smtpd_sasl_path = private/auth).
service auth {{
  unix_listener {POSTFIX_AUTH_SOCKET} {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""
