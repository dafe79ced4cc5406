"""The day-2 probe `zone-serial`: a zone changed twice within a minute, its SOA serial read from outside.

Through the real delivery path, as `lab deliver --set` does it: the stack's program runs again with the
zone's records changed (a TXT record added, then changed), and the name server's delivery commands run
(staging, copies, the install script that sets the serial on the host from the live file, named-checkzone,
the swap, `rndc reload`). After each delivery the SOA serial and the record are read over DNS from the
`internet` namespace, as the rest of the world reads them: the serial must grow strictly each time (a
secondary transfers a zone only when its serial grew). Then the delivery the lab was running is put back;
its content differs from the second change's, so the serial grows again, never lower than before.

Both programs run first, so the two deliveries follow each other within seconds: the serial cannot come
from the date alone.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from lab.deploy import execute, render_plan
from lab.hosts import host_run
from lab.settings import PROJECT_DIR, LabError
from lab.system import BUILD_DIR
from preflight.stackconfig import load_stack_config

if TYPE_CHECKING:
    from lab.probes import Lab

RECORD = "_serial-probe"
PLAN_FILE = BUILD_DIR / "zone-serial-plan.json"  # never build/lab/plan.json: that is the lab's running plan
_SOA_SERIAL = re.compile(r"\sSOA\s+\S+\s+\S+\s+(\d+)\s")
WAIT_SECONDS = 15  # for named to load a reloaded zone


def _overrides(lab: Lab) -> list[str]:
    """The `--set` overrides the running lab was loaded with (its config against the plain stack file)."""
    stack = lab.topology.stack
    plain = load_stack_config(PROJECT_DIR, stack.name).config
    return [f"{key}={value}" for key, value in sorted(stack.program.config.items())
            if plain.get(key) != value and key not in stack.program.secret_keys]


def _zones_with(lab: Lab, text: str | None) -> tuple[str, str]:
    """(zone name, `isp:zones=` override) with the probe's TXT record holding `text` in the first zone."""
    raw = lab.topology.stack.program.config.get("isp:zones")
    zones: list[dict[str, Any]] = json.loads(raw) if raw else []
    if not zones:
        raise LabError("the zone-serial probe needs a zone written inline in isp:zones")
    first = dict(zones[0])
    records = [r for r in first.get("records", []) if r.get("name") != RECORD]
    first["records"] = records + ([{"name": RECORD, "type": "TXT", "content": text}] if text else [])
    return first["name"], "isp:zones=" + json.dumps([first, *zones[1:]], separators=(",", ":"))


def _observe(lab: Lab, zone: str, expected: str | None) -> tuple[int | None, str]:
    """The zone's SOA serial and the probe record as the internet sees them, once named serves `expected`
    (None: no such record). (None, why) if it does not within WAIT_SECONDS."""
    name = f"{RECORD}.{zone}"
    deadline = time.monotonic() + WAIT_SECONDS
    seen = "no answer"
    while True:
        reply = lab.agent("internet", "dns", server=lab.dns_public, source=lab.client, tries=1, timeout=2,
                          queries=[[zone, "SOA"], [name, "TXT"]])
        results = reply.get("results") or [{}, {}]
        soa, txt = results[0], results[-1]
        match = _SOA_SERIAL.search(" ".join(soa.get("answer", [])) + " ")
        texts = [line.split(" TXT ", 1)[1].strip('"') for line in txt.get("answer", []) if " TXT " in line]
        authoritative = "aa" in soa.get("flags", []) and "aa" in txt.get("flags", [])
        shown = f'{texts[0]!r}' if texts else txt.get("rcode") or txt.get("error") or reply.get("error")
        seen = f"SOA serial {match[1] if match else soa.get('rcode') or soa.get('error')}, {name} TXT {shown}"
        served = texts == [expected] if expected else (txt.get("rcode") == "NXDOMAIN" and not texts)
        if match and authoritative and served:
            return int(match[1]), seen
        if time.monotonic() > deadline:
            return None, f"{seen}  <- not served within {WAIT_SECONDS} s"
        time.sleep(0.5)


def _deliver(lab: Lab, plan_steps: list, label: str, evidence: list[str]) -> bool:
    started = time.monotonic()
    outcome = execute(plan_steps, echo=lambda _: None)
    host_run(lab.dns, "rndc nta -force -lifetime 1w . >/dev/null", check=False)  # as after any lab delivery
    line = f"{label}: {len(plan_steps)} commands of {lab.dns.name}-bind, {time.monotonic() - started:.1f} s"
    if not outcome.ok:
        evidence.append(f"{line}: {outcome.failure_message()}  <- the delivery failed")
        return False
    installed = [ln for r in outcome.results for ln in r.stdout.splitlines()
                 if ln.startswith("zone ") and "/IN:" not in ln]  # the install's lines, not named-checkconf's
    evidence.append(f"{line}; the host said: {'; '.join(installed) or 'nothing about serials'}")
    return True


def probe_zone_serial(lab: Lab) -> tuple[bool, list[str]]:
    component = f"{lab.dns.name}-bind"
    token = secrets.token_hex(4)
    contents = [f"change {n} of probe {token}" for n in (1, 2)]
    overrides = _overrides(lab)
    zone = _zones_with(lab, None)[0]
    plans = [render_plan(lab.topology.stack.name, [*overrides, _zones_with(lab, text)[1]], out=PLAN_FILE)
             for text in contents]
    PLAN_FILE.unlink(missing_ok=True)  # it holds the commands' inputs, secrets included
    evidence: list[str] = []
    before, seen = _observe(lab, zone, None)
    evidence.append(f"before, from internet {lab.client} to {lab.dns.name} {lab.dns_public}: {seen}")
    serials: list[int | None] = [before]
    delivered_at: list[float] = []
    ok = before is not None
    try:
        for n, (plan, text) in enumerate(zip(plans, contents, strict=True), start=1):
            ok &= _deliver(lab, plan.steps_under(component), f"change {n} ({RECORD} TXT {text!r})", evidence)
            delivered_at.append(time.monotonic())
            serial, seen = _observe(lab, zone, text)
            grew = serial is not None and serials[-1] is not None and serial > serials[-1]
            evidence.append(f"  after change {n}: {seen}" + ("" if grew else "  <- expected a higher serial"))
            serials.append(serial)
            ok &= grew
        within = delivered_at[1] - delivered_at[0]
        evidence.append(f"the two changes were delivered {within:.1f} s apart" + ("" if within < 60 else
                                                                                     "  <- expected within a minute"))
        ok &= within < 60
    finally:
        # The delivery the lab was running goes back in (as the next deployment would), whatever happened.
        restored_ok = _deliver(lab, lab.plan.steps_under(component), "restored the running config", evidence)
    restored, seen = _observe(lab, zone, None)
    higher = restored is not None and serials[-1] is not None and restored > serials[-1]
    evidence.append(f"  after restoring: {seen}" + ("" if higher else f"  <- expected above {serials[-1]}: the "
                                                    "content changed back, and a serial never goes down"))
    evidence.append("serials seen: " + " < ".join(str(s) for s in [*serials, restored]))
    return ok and restored_ok and higher, evidence
