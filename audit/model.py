"""What an audit finds: one Result per check and target, and the checks' registry.

A check is a function of the AuditContext that yields Results; it is declared with `@check` beside its
code (id, lesson, vantage), as the pack declares its policies (policies/rules/kit.py). Results are
immutable values: the report, the baseline comparison and the lab all read the same ones.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:  # the context's parts are built by the CLI; checks only read them
    from audit.expect import Expectation
    from audit.net import Net
    from audit.resolver import StackResolver

T = TypeVar("T")
Status = Literal["PASS", "WARN", "FAIL"]
Vantage = Literal["outside", "customer"]
STATUSES: tuple[Status, ...] = ("PASS", "WARN", "FAIL")


@dataclass(frozen=True)
class Result:
    """One check of one target: its verdict and the evidence (the query and the answer, the banner,
    the certificate's names and dates) that lets an operator see why without running it again."""

    check: str  # the check's id, e.g. "recursion-refused"
    lesson: str  # "3", "1, 4", "6, 10": the lessons it proves (policies/lessons.py numbers)
    target: str  # what was probed, e.g. "ns1.isp.test 198.51.100.53"
    status: Status
    summary: str  # one line
    evidence: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        """How a baseline recognises the same check of the same target on another night."""
        return (self.check, self.target)


@dataclass(frozen=True)
class AuditOptions:
    vantage: Vantage = "outside"
    timeout: float = 3.0  # seconds per network exchange
    tries: int = 2  # attempts per exchange before a target counts as not answering
    cafile: str | None = None  # trust only this CA (the lab's); default: the system's trust store
    resolver: str | None = None  # a resolver for names outside the zones our name servers serve
    outside_name: str = "www.example.com"  # a name outside our zones, for the recursion checks
    outside_smtp: str | None = None  # customer vantage: an outside mail server, for port 25 egress
    send_test_mail: str | None = None  # an address of ours to send one test message to
    warn_days: int = 21  # a certificate expiring within this many days is a WARN
    now: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))


@dataclass(frozen=True)
class AuditContext:
    expect: Expectation
    net: Net
    resolver: StackResolver
    options: AuditOptions


CheckFunction = Callable[[AuditContext], Iterable[Result]]


@dataclass(frozen=True)
class Check:
    id: str
    lesson: str
    vantage: Vantage
    claim: str  # what a PASS proves, one line (the report's and README's wording)
    function: CheckFunction


def each_at_once(probes: Sequence[Callable[[], T]]) -> Iterator[T]:
    """Run each probe on a daemon thread of its own and yield their results in the given order, each once it
    and those before it are done: a silent target waits out its timeout beside the others, not after them
    (a host filtering five ports costs one timeout, not five). Daemon threads, as the checks' own: a probe
    still waiting at the audit's deadline cannot hold the process. A probe's exception is raised in order."""
    done = [threading.Event() for _ in probes]
    outcomes: list[tuple[bool, object]] = [(False, None)] * len(probes)

    def work(index: int, probe: Callable[[], T]) -> None:
        try:
            outcomes[index] = (True, probe())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread, in order
            outcomes[index] = (False, error)
        finally:
            done[index].set()

    for index, probe in enumerate(probes):
        threading.Thread(target=work, args=(index, probe), name="audit-target", daemon=True).start()
    for index in range(len(probes)):
        done[index].wait()
        ok, value = outcomes[index]
        if not ok:
            raise value  # type: ignore[misc]
        yield value  # type: ignore[misc]


CHECKS: list[Check] = []


def check(id: str, *, lesson: str, vantage: Vantage = "outside",
          claim: str) -> Callable[[CheckFunction], CheckFunction]:
    """Declare a check at its function; `audit.checks` imports every module, so declaring registers."""

    def register(function: CheckFunction) -> CheckFunction:
        if any(existing.id == id for existing in CHECKS):
            raise ValueError(f"check {id!r} declared twice")
        CHECKS.append(Check(id, lesson, vantage, claim, function))
        return function

    return register
