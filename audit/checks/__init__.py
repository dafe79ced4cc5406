"""Every check module, imported so that each `@check` registers itself in audit.model.CHECKS.

dns (lessons 3, 5, 8, DNSSEC), web (8, 10, MTA-STS policy host), customer (1, 3, 4 from a customer line),
mail (4, 5, 10 on the mail ports) and mailauth (6: SPF, DKIM, DMARC, MTA-STS, TLS-RPT).
"""

from audit.checks import customer, dns, mail, mailauth, web  # noqa: F401
