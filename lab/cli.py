"""`python -m lab up|down|deliver|probe|hosts`: bring the lab up, prove it, take it down.

    up       namespaces, hosts, the stack's delivery, the probes, the report (make lab)
    down     every namespace, veth, process and mount the lab made, and the hosts' roots (make lab-down)
    hosts    namespaces and hosts only: what `pulumi up -s lab` needs to deliver into
    deliver  run the stack's program and its local commands again (with --set overrides)
    probe    run the probes (all, or those named) and write the report
    shell    a shell, or one command, inside one of the stack's hosts

Exit status: 0 all good, 1 a probe failed or the deployment failed, 2 the lab could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from lab import hosts as lab_hosts
from lab import netns
from lab.deploy import DeployResult, Plan, execute, render_plan
from lab.internet import internet_config
from lab.settings import PROJECT_DIR, LabError, load_lab, parse_overrides
from lab.system import BUILD_DIR, project_env, python_in, require_root_and_tools, start_detached, wait_for
from lab.topology import Topology, build_topology

TOOLS = ("ip", "nsenter", "nft", "named", "rndc", "postfix", "dovecot", "doveadm", "nginx", "policyd-rate-limit",
         "openssl", "useradd", "chpasswd", "pg_dump", "pg_restore", "psql", "setpriv", "systemd-analyze", "opendkim")
INVENTORY = BUILD_DIR / "inventory.json"
SINK_LOG = BUILD_DIR / "internet" / "sink.jsonl"


def say(text: str) -> None:
    print(text, flush=True)


def load_topology(stack: str, overrides: Sequence[str] = ()) -> Topology:
    return build_topology(load_lab(stack, parse_overrides(overrides)))


# ---------------------------------------------------------------------------------------------
# The outside world


def internet_running(topology: Topology) -> bool:
    pid_file = lab_hosts.PIDS_DIR / "internet.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    return pid in netns.namespace_pids(topology.host("internet").namespace)


def ensure_internet(topology: Topology) -> bool:
    """Start the stand-in Internet's services (DNS root and outside domain, mail sinks) unless running."""
    config_path = BUILD_DIR / "internet" / "config.json"
    config = json.dumps(internet_config(topology, SINK_LOG), indent=1)
    if internet_running(topology) and config_path.exists() and config_path.read_text() == config:
        return False
    namespace = topology.host("internet").namespace
    if internet_running(topology):
        netns.kill_namespace_processes(namespace)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config)
    pid = start_detached(python_in(namespace, "lab.internet", str(config_path)), env=project_env(),
                         log=BUILD_DIR / "logs" / "internet.log", what="the lab's internet services")
    lab_hosts.PIDS_DIR.mkdir(parents=True, exist_ok=True)
    (lab_hosts.PIDS_DIR / "internet.pid").write_text(str(pid))
    return True


# ---------------------------------------------------------------------------------------------
# Steps


def bring_up_hosts(topology: Topology, plan: Plan) -> None:
    created = netns.ensure_namespaces(topology)
    say(f"namespaces: {len(topology.hosts)} ({len(created)} created or changed)")
    if ensure_internet(topology):
        say("internet: root servers, outside.test and the mail sinks started")
    started = lab_hosts.ensure_hosts(topology, plan)
    say(f"hosts: {', '.join(h.name for h in topology.hosts if h.is_server)}"
        + (f" (started {'; '.join(started)})" if started else ""))
    INVENTORY.write_text(json.dumps(topology.inventory(), indent=2) + "\n")


def deliver(topology: Topology, plan: Plan) -> DeployResult:
    say(f"delivery: {len(plan.steps)} local commands of stack {plan.stack}, in dependency order")
    result = execute(plan.steps, echo=say)
    if result.ok:
        after_delivery(topology)
    return result


def after_delivery(topology: Topology) -> None:
    """What the lab adds at run time: the unsigned lab root is trusted, and the daemons are ready."""
    for host in topology.hosts:
        if "dns" in host.roles:
            wait_for(lambda h=host: lab_hosts.host_run(h, "rndc status", check=False).returncode == 0,
                     timeout=15, what=f"{host.name}: named does not answer rndc")
            # The lab's root is unsigned: a negative trust anchor for it, not a change to named.conf.
            lab_hosts.host_run(host, "rndc nta -force -lifetime 1w . >/dev/null")
        if "mail" in host.roles:
            lab_hosts.wait_until_listening(host, 25)
            lab_hosts.wait_until_listening(host, 587)
            lab_hosts.wait_for_socket(host, "/var/spool/postfix/private/auth")
            lab_hosts.wait_for_socket(host, "/var/spool/postfix/ratelimit/policy")
            from lab.mailauth_setup import installed_milter_port

            milter = installed_milter_port(host.root)
            if milter is not None:  # OpenDKIM, once the stack delivers its configuration
                lab_hosts.wait_until_listening(host, milter)
        if {"web", "webmail"} & set(host.roles):
            lab_hosts.wait_until_listening(host, 80)
            lab_hosts.wait_until_listening(host, 443)
        if "db" in host.roles:
            lab_hosts.wait_for_socket(host, "/run/postgresql/.s.PGSQL.5432")


def take_down(stack: str) -> list[str]:
    removed = netns.remove_namespaces(f"isp-{stack}-")
    lab_hosts.remove_roots()
    for path in (lab_hosts.PIDS_DIR, lab_hosts.SECRETS_DIR):
        if path.exists():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
    return removed


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    topology = load_topology(args.stack, args.overrides)
    require_root_and_tools(TOOLS)
    plan = render_plan(args.stack, args.overrides)
    bring_up_hosts(topology, plan)
    result = deliver(topology, plan)
    bring_up = time.monotonic() - started
    if not result.ok:
        say(f"deployment failed: {result.failure_message()}")
        return 1
    say(f"bring-up: {bring_up:.1f} s")
    if args.no_probes:
        return 0
    from lab.probes import run_probes

    return run_probes(topology, plan, args.only, started=started, bring_up_seconds=bring_up)


def cmd_down(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        raise LabError("lab-down needs root, like the lab itself")
    removed = take_down(args.stack)
    if removed:
        say(f"removed {len(removed)} namespaces ({', '.join(removed)}) with their veths, processes and mounts; "
            "host roots deleted")
    else:
        say("no lab namespaces were up; host roots deleted")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    topology = load_topology(args.stack, args.overrides)
    require_root_and_tools(TOOLS)
    plan = render_plan(args.stack, args.overrides)
    bring_up_hosts(topology, plan)
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    topology = load_topology(args.stack, args.overrides)
    require_root_and_tools(TOOLS)
    plan = render_plan(args.stack, args.overrides)
    result = deliver(topology, plan)
    if not result.ok:
        say(f"deployment failed: {result.failure_message()}")
        return 1
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    topology = load_topology(args.stack, args.overrides)
    require_root_and_tools(TOOLS)
    plan_file = PROJECT_DIR / "build" / args.stack / "plan.json"
    if not plan_file.exists():
        raise LabError("the lab is not up (no build/lab/plan.json); run make lab first")
    from lab.deploy import plan_from_registrations
    from lab.probes import run_probes

    document = json.loads(plan_file.read_text())
    plan = plan_from_registrations(document["stack"], document["registrations"])
    return run_probes(topology, plan, args.only, started=time.monotonic(), bring_up_seconds=None)


def cmd_shell(args: argparse.Namespace) -> int:
    """A shell (or one command) inside a server, entered exactly as the local transport enters it."""
    host = load_topology(args.stack, args.overrides).host(args.host)
    if not lab_hosts.holder_alive(host):
        raise LabError(f"{host.name} is not up; run make lab first")
    script = " ".join(args.argv) if args.argv else "exec /bin/bash -l"
    os.execvp("/bin/sh", lab_hosts.host_argv(host, script))
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("up", cmd_up, "bring the lab up, deliver the stack, run the probes (make lab)"),
        ("down", cmd_down, "remove every namespace, veth, process and mount of the lab (make lab-down)"),
        ("hosts", cmd_hosts, "namespaces and hosts only (then `pulumi up -s lab` can deliver)"),
        ("deliver", cmd_deliver, "run the stack's program and its local commands again"),
        ("probe", cmd_probe, "run the probes against the running lab"),
        ("shell", cmd_shell, "a shell or a command inside one of the stack's hosts"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        command.add_argument("--stack", default="lab", help="the lab stack (Pulumi.<stack>.yaml), default lab")
        command.add_argument("--set", action="append", default=[], dest="overrides", metavar="NS:KEY=JSON",
                             help="override a config value (objects merge), e.g. "
                                  "isp:dns='{\"recursionClients\":[\"any\"]}'")
        if name in ("up", "probe"):
            command.add_argument("--only", action="append", default=[], metavar="PROBE",
                                 help="run only this probe (repeatable)")
        if name == "up":
            command.add_argument("--no-probes", action="store_true", help="bring up and deliver only")
        if name == "shell":
            command.add_argument("host", help="a host of the stack: gw, ns1, mail, www, webmail, db")
            command.add_argument("argv", nargs=argparse.REMAINDER, help="the command (default: a login shell)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except LabError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 2



