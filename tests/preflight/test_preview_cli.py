"""`python -m preflight preview` end to end, on small Pulumi programs written here (one process per run)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from preflight.model import UNKNOWN
from preflight.reports import abbreviate_pack_path
from preflight.stackconfig import placeholder_for

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SECRET_CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ="
SSH_KEY_PLACEHOLDER = placeholder_for("shop:sshKey")
DB_PLACEHOLDER = placeholder_for("shop:dbPassword")
STACK_URN = "urn:pulumi:dev::shop::pulumi:pulumi:Stack::shop-dev"


def write_program(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return directory


def preview(program: Path, *extra: str, stack: str = "dev") -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "preflight", "preview", "--stack", stack, "--cwd", str(program), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


SHOP_PROJECT = """\
    name: shop
    runtime:
      name: python
    config:
      greeting:
        type: string
        default: hello
      ttl: 300
"""

SHOP_STACK = f"""\
    config:
      shop:ttl: 600
      shop:webHost: web1.example.net
      shop:sshKey:
        secure: {SECRET_CIPHERTEXT}
      shop:dbPassword:
        secure: {SECRET_CIPHERTEXT}
"""

SHOP_PROGRAM = """\
    import pulumi
    import pulumi_cloudflare as cloudflare
    from pulumi_command import local, remote, Provider as CommandProvider

    import shopconf

    cfg = pulumi.Config()
    connection = remote.ConnectionArgs(host=cfg.require("webHost"), user="deploy",
                                       private_key=cfg.require_secret("sshKey"))


    class Vhost(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("shop:web:Vhost", name, {"server": name}, opts)
            remote.CopyToRemote(f"{name}-conf", connection=connection,
                                source=pulumi.StringAsset(shopconf.vhost(name)),
                                remote_path=f"/etc/nginx/sites/{name}.conf", opts=pulumi.ResourceOptions(parent=self))
            remote.CopyToRemote(f"{name}-escape", connection=connection, source=pulumi.StringAsset("contained\\n"),
                                remote_path="/../../../../escape.txt", opts=pulumi.ResourceOptions(parent=self))
            remote.CopyToRemote(f"{name}-file", connection=connection, source=pulumi.FileAsset("files/robots.txt"),
                                remote_path="/var/www/robots.txt", opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({})


    class Site(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("shop:web:Site", name, {"label": name}, opts)
            child = pulumi.ResourceOptions(parent=self)
            self.zone = cloudflare.Zone(f"{name}-zone", account={"id": "0123456789abcdef0123456789abcdef"},
                                        name="example.net", opts=pulumi.ResourceOptions(parent=self, protect=True))
            self.www = cloudflare.DnsRecord(f"{name}-www", zone_id=self.zone.id, name="www", type="A",
                                            ttl=cfg.require_int("ttl"), content="192.0.2.10", opts=child)
            Vhost(f"{name}-vhost", opts=child)
            self.register_outputs({"zoneId": self.zone.id})


    site = Site("main")
    # A secret read the careless way (plain get): its text must still never be shown.
    cloudflare.DnsRecord("apex-txt", zone_id=site.zone.id, name="@", type="TXT", ttl=1,
                         content="db=" + cfg.require("dbPassword"))
    print("program says the password is", cfg.require("dbPassword"))
    explicit = CommandProvider("local-provider")
    local.Command("hello", create="echo hello", opts=pulumi.ResourceOptions(provider=explicit))
    pulumi.export("greeting", pulumi.runtime.config.CONFIG.get()["shop:greeting"])
    pulumi.export("zoneId", site.zone.id)
    pulumi.export("sshKey", cfg.require_secret("sshKey"))
"""

SHOPCONF = """\
    def vhost(name):
        return f"server {{ server_name {name}.example.net; }}\\n"
"""

# Runs the runner itself (in its own process) and prints the wire-form registrations.
DUMP_REGISTRATIONS = """\
import dataclasses, json, sys
from pathlib import Path
from preflight.runner import run_program
from preflight.stackconfig import load_stack_config
run = run_program(load_stack_config(Path(sys.argv[1]), "dev"))
sys.stdout.write("\\nREGISTRATIONS " + json.dumps([dataclasses.asdict(r) for r in run.registrations]))
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    return write_program(tmp_path_factory.mktemp("shop"), {
        "Pulumi.yaml": SHOP_PROJECT,
        "Pulumi.dev.yaml": SHOP_STACK,
        "__main__.py": SHOP_PROGRAM,
        "shopconf.py": SHOPCONF,
        "files/robots.txt": "User-agent: *\n",
    })


@pytest.fixture(scope="module")
def shop_preview(shop, tmp_path_factory):
    output = tmp_path_factory.mktemp("out")
    result = preview(shop, "--json", str(output / "preview.json"))
    document = json.loads((output / "preview.json").read_text()) if (output / "preview.json").exists() else None
    return result, document


@pytest.fixture(scope="module")
def shop_registrations(shop) -> dict[str, dict]:
    result = subprocess.run([PYTHON, "-c", DUMP_REGISTRATIONS, str(shop)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    registrations = json.loads(result.stdout.split("\nREGISTRATIONS ", 1)[1])
    return {r["urn"]: r for r in registrations}


def test_preview_succeeds_and_prints_the_plan(shop_preview):
    result, document = shop_preview
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "  + pulumi:pulumi:Stack shop-dev" in result.stdout
    assert "+ cloudflare:index/zone:Zone main-zone [protect]" in result.stdout
    assert f"+ {len(document['resources'])} to create" in result.stdout


def test_urns_are_the_engines(shop_preview):
    _, document = shop_preview
    urns = {r["urn"] for r in document["resources"]}
    assert STACK_URN in urns
    # Top-level resources carry no Stack prefix; children carry their parents' qualified types.
    assert "urn:pulumi:dev::shop::shop:web:Site::main" in urns
    assert "urn:pulumi:dev::shop::cloudflare:index/dnsRecord:DnsRecord::apex-txt" in urns
    assert "urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/dnsRecord:DnsRecord::main-www" in urns
    assert ("urn:pulumi:dev::shop::shop:web:Site$shop:web:Vhost$command:remote:CopyToRemote::main-vhost-conf"
            in urns)
    by_urn = {r["urn"]: r for r in document["resources"]}
    www = by_urn["urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/dnsRecord:DnsRecord::main-www"]
    assert www["parent"] == "urn:pulumi:dev::shop::shop:web:Site::main"
    assert by_urn["urn:pulumi:dev::shop::shop:web:Site::main"]["parent"] == STACK_URN


def test_zone_id_is_unknown_on_the_wire_as_at_a_first_preview(shop_registrations):
    zone_urn = "urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/zone:Zone::main-zone"
    www = shop_registrations["urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/dnsRecord:DnsRecord::main-www"]
    assert www["inputs"]["zoneId"] == UNKNOWN
    assert www["property_dependencies"]["zoneId"] == [zone_urn]
    assert zone_urn in www["dependencies"]
    assert www["outputs"]["id"] == UNKNOWN and www["outputs"]["content"] == "192.0.2.10"
    zone = shop_registrations[zone_urn]
    assert zone["protect"] is True
    assert zone["id"] == ""
    # Component outputs come from register_outputs; the stack's from its exports.
    site = shop_registrations["urn:pulumi:dev::shop::shop:web:Site::main"]
    assert site["inputs"] == {"label": "main"} and site["outputs"] == {"zoneId": UNKNOWN}
    assert shop_registrations[STACK_URN]["outputs"]["zoneId"] == UNKNOWN
    assert shop_registrations[STACK_URN]["outputs"]["greeting"] == "hello"


def test_default_and_explicit_providers(shop_registrations):
    version = importlib.metadata.version("pulumi_cloudflare")
    name = "default_" + version.replace(".", "_")
    provider_urn = f"urn:pulumi:dev::shop::pulumi:providers:cloudflare::{name}"
    provider = shop_registrations[provider_urn]
    assert provider["custom"] is True and provider["parent"] is None
    assert provider["inputs"]["version"] == version
    cloudflare_resources = [r for r in shop_registrations.values() if r["type"].startswith("cloudflare:")]
    assert len(cloudflare_resources) == 3
    assert {r["provider"] for r in cloudflare_resources} == {f"{provider_urn}::{UNKNOWN}"}
    # The program's own provider is registered as written and used by reference, no default one for it.
    explicit_urn = "urn:pulumi:dev::shop::pulumi:providers:command::local-provider"
    assert explicit_urn in shop_registrations
    hello = shop_registrations["urn:pulumi:dev::shop::command:local:Command::hello"]
    assert hello["provider"] == f"{explicit_urn}::{UNKNOWN}"
    # CopyToRemote used the default command provider.
    command_default_prefix = "urn:pulumi:dev::shop::pulumi:providers:command::default_"
    command_defaults = [u for u in shop_registrations if u.startswith(command_default_prefix)]
    assert len(command_defaults) == 1
    # Registration order: a default provider comes before its first user.
    order = list(shop_registrations)
    assert order[0] == STACK_URN
    assert order.index(provider_urn) < order.index(
        "urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/zone:Zone::main-zone")


def test_project_defaults_and_stack_overrides_reach_the_program(shop_preview):
    _, document = shop_preview
    by_urn = {r["urn"]: r for r in document["resources"]}
    www = by_urn["urn:pulumi:dev::shop::shop:web:Site$cloudflare:index/dnsRecord:DnsRecord::main-www"]
    assert www["inputs"]["ttl"] == 600  # stack value overrides the project's 300
    assert www["inputs"]["zoneId"] == "[unknown]"
    assert document["outputs"]["greeting"] == "hello"  # project default, read through CONFIG


def test_secrets_never_appear(shop_preview):
    result, document = shop_preview
    text = json.dumps(document)
    for shown in (result.stdout, result.stderr, text):
        assert SSH_KEY_PLACEHOLDER not in shown
        assert DB_PLACEHOLDER not in shown
        assert SECRET_CIPHERTEXT not in shown
    assert "program says the password is [secret]" in result.stdout
    assert document["outputs"]["sshKey"] == "[secret]"
    apex = next(r for r in document["resources"] if r["name"] == "apex-txt")
    assert apex["inputs"]["content"] == "db=[secret]"
    copy = next(r for r in document["resources"] if r["name"] == "main-vhost-conf")
    assert copy["inputs"]["connection"] == "[secret]"


def test_host_files_are_written_and_contained(shop_preview, shop):
    _, document = shop_preview
    host_dir = shop / "build" / "dev" / "hosts" / "web1.example.net"
    assert (host_dir / "etc/nginx/sites/main-vhost.conf").read_text() == \
        "server { server_name main-vhost.example.net; }\n"
    assert (host_dir / "var/www/robots.txt").read_text() == "User-agent: *\n"
    assert (host_dir / "escape.txt").read_text() == "contained\n"
    build_files = [p for p in (shop / "build").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(host_dir.resolve()) for p in build_files)
    assert len(build_files) == 3
    assert [p.resolve() for p in shop.parent.rglob("escape.txt")] == [(host_dir / "escape.txt").resolve()]
    assert {f["remotePath"] for f in document["hostFiles"]} == {
        "/etc/nginx/sites/main-vhost.conf", "/var/www/robots.txt", "/escape.txt"}


def test_json_shape(shop_preview):
    _, document = shop_preview
    assert document["stack"] == "dev" and document["project"] == "shop"
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "custom", "parent", "dependencies", "protect", "provider",
                                 "inputs"}
    assert "violations" not in document


def test_a_failing_program_exits_2_with_its_message_and_no_traceback(tmp_path):
    program = write_program(tmp_path, {
        "Pulumi.yaml": "name: broken\nruntime: python\n",
        "Pulumi.dev.yaml": "config:\n  broken:zone: bad name\n",
        "__main__.py": """\
            import pulumi
            import checks
            checks.zone_name(pulumi.Config().require("zone"))
        """,
        "checks.py": """\
            def zone_name(name):
                if " " in name:
                    raise ValueError(f"zone name {name!r} is not a DNS name")
        """,
    })
    result = preview(program, "--json", str(tmp_path / "out.json"))
    assert result.returncode == 2
    assert "zone name 'bad name' is not a DNS name" in result.stderr
    assert "checks.py:3" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert json.loads((tmp_path / "out.json").read_text())["error"].startswith("the Pulumi program failed")


def test_log_error_and_async_failures_fail_the_preview(tmp_path):
    program = write_program(tmp_path, {
        "Pulumi.yaml": "name: noisy\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": """\
            import pulumi
            pulumi.log.warn("disk is nearly full")
            pulumi.log.error("the mail host has no PTR record")
        """,
    })
    result = preview(program)
    assert result.returncode == 2
    assert "the mail host has no PTR record" in result.stderr
    assert "disk is nearly full" in result.stderr
    (program / "__main__.py").write_text("import pulumi\npulumi.Output.from_input(2).apply(lambda v: v / 0)\n")
    result = preview(program)
    assert result.returncode == 2
    assert "ZeroDivisionError" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_stack_file_exits_2(tmp_path):
    program = write_program(tmp_path, {"Pulumi.yaml": "name: shop\nruntime: python\n", "__main__.py": "\n"})
    result = preview(program, stack="prod")
    assert result.returncode == 2
    assert "Pulumi.prod.yaml is missing" in result.stderr
    assert "Traceback" not in result.stderr


POLICY_PACK = """\
    from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


    def no_destructive_commands(args, report_violation):
        if args.resource_type == "command:local:Command" and "rm -rf" in (args.props.get("create") or ""):
            report_violation("this command deletes files recursively")


    PolicyPack(
        name="guard",
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=[ResourceValidationPolicy(name="no-rm", description="No recursive deletes.",
                                           validate=no_destructive_commands)],
    )
"""


@pytest.fixture
def guarded(tmp_path) -> tuple[Path, Path]:
    program = write_program(tmp_path / "program", {
        "Pulumi.yaml": "name: ops\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": """\
            from pulumi_command import local
            local.Command("cleanup", create="rm -rf /var/tmp/cache")
            local.Command("greet", create="echo hi")
        """,
    })
    pack = write_program(tmp_path / "pack", {"PulumiPolicy.yaml": "runtime: python\n", "__main__.py": POLICY_PACK})
    return program, pack


def test_a_mandatory_violation_exits_1_and_is_reported(guarded, tmp_path):
    program, pack = guarded
    result = preview(program, "--policy-pack", str(pack), "--json", str(tmp_path / "out.json"))
    assert result.returncode == 1, result.stderr
    assert "[mandatory] no-rm (guard)" in result.stdout
    assert "urn:pulumi:dev::ops::command:local:Command::cleanup" in result.stdout
    document = json.loads((tmp_path / "out.json").read_text())
    assert [(v["policy"], v["enforcementLevel"], v["urn"]) for v in document["violations"]] == [
        ("no-rm", "mandatory", "urn:pulumi:dev::ops::command:local:Command::cleanup")]
    assert document["violations"][0]["message"].count("deletes files recursively") == 1
    assert document["violations"][0]["policyPack"] == "guard"


def test_an_advisory_violation_exits_0(guarded, tmp_path):
    program, pack = guarded
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"no-rm": "advisory"}))
    result = preview(program, "--policy-pack", str(pack), "--policy-pack-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "[advisory] no-rm (guard)" in result.stdout


def test_invokes_return_empty_unless_told_and_register_a_default_provider(tmp_path):
    program = write_program(tmp_path / "program", {
        "Pulumi.yaml": "name: lookup\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": """\
            import pulumi
            result = pulumi.runtime.invoke("acme:index:getRegion", {"zone": "a"})
            pulumi.export("region", (result.value or {}).get("name", "none"))
        """,
    })
    invokes = tmp_path / "invokes.json"
    invokes.write_text(json.dumps({"acme:index:getRegion": {"name": "eu-west"}}))
    told = preview(program, "--invoke-results", str(invokes), "--json", str(tmp_path / "told.json"))
    untold = preview(program, "--json", str(tmp_path / "untold.json"))
    assert told.returncode == 0 and untold.returncode == 0, told.stderr + untold.stderr
    told_document = json.loads((tmp_path / "told.json").read_text())
    assert told_document["outputs"]["region"] == "eu-west"
    assert json.loads((tmp_path / "untold.json").read_text())["outputs"]["region"] == "none"
    assert [r["urn"] for r in told_document["resources"]] == [
        "urn:pulumi:dev::lookup::pulumi:pulumi:Stack::lookup-dev",
        "urn:pulumi:dev::lookup::pulumi:providers:acme::default",
    ]


def test_transforms_run_like_the_engine_runs_them(tmp_path):
    program = write_program(tmp_path / "program", {
        "Pulumi.yaml": "name: tr\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": """\
            import pulumi
            from pulumi_command import local


            def stamp(args):
                if args.type_ != "command:local:Command":
                    return None
                protected = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True))
                return pulumi.ResourceTransformResult(props={**args.props, "environment": {"STAMP": "1"}},
                                                      opts=protected)


            def suffix(args):
                props = dict(args.props)
                if "create" in props:
                    props["create"] += " --checked"
                return pulumi.ResourceTransformResult(props=props, opts=args.opts)


            class Group(pulumi.ComponentResource):
                def __init__(self, name, opts=None):
                    super().__init__("tr:x:Group", name, {}, opts)
                    local.Command(f"{name}-child", create="echo child", opts=pulumi.ResourceOptions(parent=self))
                    self.register_outputs({})


            local.Command("before", create="echo before")
            pulumi.runtime.register_resource_transform(stamp)
            local.Command("own", create="echo own", opts=pulumi.ResourceOptions(transforms=[suffix]))
            Group("group", opts=pulumi.ResourceOptions(transforms=[suffix]))
        """,
    })
    result = preview(program, "--json", str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    by_name = {r["name"]: r for r in json.loads((tmp_path / "out.json").read_text())["resources"]}
    # A stack transform applies to what is registered after it; a resource's own transforms to it and,
    # through its parent chain, to its children.
    assert by_name["before"]["inputs"] == {"create": "echo before"} and not by_name["before"]["protect"]
    assert by_name["own"]["inputs"] == {"create": "echo own --checked", "environment": {"STAMP": "1"}}
    assert by_name["group-child"]["inputs"] == {"create": "echo child --checked", "environment": {"STAMP": "1"}}
    assert by_name["own"]["protect"] and by_name["group-child"]["protect"]
    assert not by_name["group"]["protect"]


def test_a_broken_policy_pack_exits_2(guarded, tmp_path):
    program, _ = guarded
    result = preview(program, "--policy-pack", str(tmp_path / "no-such-pack"), "--json", str(tmp_path / "out.json"))
    assert result.returncode == 2
    assert "PulumiPolicy.yaml" in result.stderr and "Traceback" not in result.stderr
    assert "PulumiPolicy.yaml" in json.loads((tmp_path / "out.json").read_text())["error"]


def test_violations_are_also_printed_as_the_cli_prints_them(guarded, tmp_path):
    """The `Policies:` block of pulumi/pulumi pkg/backend/display/progress.go (printPolicies), the pack's path as
    given (relative to the directory preflight runs in)."""
    program, pack = guarded
    given = os.path.relpath(pack, REPO)
    result = preview(program, "--policy-pack", given)
    assert result.returncode == 1, result.stderr
    block = result.stdout[result.stdout.index("Policies:\n"):]
    assert block.startswith(
        "Policies:\n"
        f"    \u274c guard@v0.0.1 (local: {abbreviate_pack_path(given)})\n"
        "        - [mandatory]  no-rm  (command:local:Command: cleanup)\n"
        "          No recursive deletes.\n"
        "          this command deletes files recursively\n"
        "\n"
    ), block
