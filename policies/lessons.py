"""The lesson registry: each of the ISP owner's lessons, the policies that check it, the
components that build it and the lab probes that prove it by traffic.

Policies are not listed here by hand: each is declared at its rule (`rules.kit.declare`,
with its lesson number) and found through `rules.kit.DECLARED` once the rule modules are
imported. The README's tables and the lab's probes are checked against this registry
(tests/policies/test_lessons.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules import backup, dns, gateway, hosting, mail, nullmx, web  # noqa: F401 - importing declares their policies
from rules import dkim as dkim_rules  # noqa: F401 - importing declares its policies
from rules import mtastls as mtastls_rules  # noqa: F401 - importing declares its policy
from rules import mtasts as mtasts_rules  # noqa: F401 - importing declares its policies
from rules.kit import DECLARED, Declaration

RULE_MODULES = (dns, nullmx, dkim_rules, mtasts_rules, mtastls_rules, hosting, mail, gateway, backup, web)


@dataclass(frozen=True)
class Lesson:
    number: int | str  # 1..12, or "safety" for the pack's own guard rails
    title: str
    built_by: tuple[str, ...]  # our components (their class names)
    probes: tuple[str, ...]  # lab probes (lab/probes.py PROBES)

    @property
    def policies(self) -> tuple[Declaration, ...]:
        return tuple(d for d in DECLARED if d.lesson == self.number)


LESSONS: tuple[Lesson, ...] = (
    Lesson(1, "Outbound TCP/25 only to our own mail servers", ("Gateway",), ("port25-egress", "audit-customer")),
    Lesson(2, "Mail per account per day capped (~100-250)", ("MailHost",), ("daily-limit",)),
    Lesson(3, "No open recursion", ("NameServer",), ("recursion", "authoritative", "audit-outside", "audit-customer")),
    Lesson(4, "SMTP AUTH and submission on 587/465 (2525)", ("MailHost",),
           ("submission-auth", "audit-outside", "audit-customer")),
    Lesson(5, "rDNS of the mail host = its banner, FCrDNS", ("ReverseZone", "DnsZone", "MailHost"),
           ("fcrdns", "smtp-banner", "audit-outside")),
    Lesson(6, "SPF, DKIM and DMARC", ("DnsZone", "MailHost", "WebHost"),
           ("spf", "dkim", "mta-sts", "mail-auth-audit", "audit-outside")),
    Lesson(7, "1:1 NAT for the mail host", ("MailHost", "Gateway"), ("nat-1to1",)),
    Lesson(8, "DNS and WWW never on one host", ("NameServer", "WebHost"), ("dns-not-www", "audit-outside")),
    Lesson(9, "One dump file per database", ("DatabaseBackup",), ("backup-restore",)),
    Lesson(10, "Webmail certificate matches its hostname", ("WebHost", "WebCertificate"),
           ("webmail-tls", "webmail-login", "webmail-browser", "audit-outside")),
    Lesson(11, "Per-message size limits", ("MailHost",), ("size-limit", "webmail-login")),
    Lesson(12, "Maildir, not MBOX", ("MailHost",), ("maildir",)),
    Lesson("safety", "Production zones cannot be deleted by an update", ("DnsZone", "ReverseZone"), ()),
)


def declarations() -> list[Declaration]:
    """Every declared policy, in lesson order, then RULE_MODULES order (the pack's order), whichever
    rule module a process imported first."""
    order = {lesson.number: i for i, lesson in enumerate(LESSONS)}
    modules = {module.__name__: i for i, module in enumerate(RULE_MODULES)}
    return sorted(DECLARED, key=lambda d: (order.get(d.lesson, len(order)),
                                           modules.get(d.rule.__module__, len(modules))))


def lesson(number: int | str) -> Lesson:
    return next(item for item in LESSONS if item.number == number)
