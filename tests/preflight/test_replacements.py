"""preflight.replacements: the provider's part of "update or replace", checked against the installed SDKs."""

from __future__ import annotations

import ast
import importlib
import json
import re
from functools import cache
from pathlib import Path

import pulumi
import pulumi._types
import pulumi_cloudflare
import pulumi_command
import pytest

from preflight.replacements import IN_PLACE, REPLACE_ON_ANY_CHANGE, REPLACING, covered, replacing_keys

# Importing the deprecated CopyFile to check its token warns; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_command.*")
REPO = Path(__file__).resolve().parents[2]
SDKS = (pulumi_command, pulumi_cloudflare)
# A resource's constructor hands its type token to CustomResource.__init__ right after the class name.
_TOKEN = re.compile(r"super\((\w+), __self__\)\.__init__\(\s*'([^']+)'")


@cache
def sdk_classes() -> dict[str, tuple[str, str]]:
    """Every type token the installed SDKs register -> (module, class name); providers as pulumi:providers:<pkg>."""
    found: dict[str, tuple[str, str]] = {}
    for sdk in SDKS:
        root = Path(sdk.__file__).parent
        for path in root.rglob("*.py"):
            module = ".".join((sdk.__name__, *path.relative_to(root).with_suffix("").parts))
            for name, token in _TOKEN.findall(path.read_text()):
                if name == "Provider":
                    token = f"pulumi:providers:{token}"
                found[token] = (module, name)
    return found


def sdk_class(token: str) -> type:
    module, name = sdk_classes()[token]
    return getattr(importlib.import_module(module), name)


def sdk_inputs(token: str) -> set[str]:
    """The Pulumi input names of a resource type, as its SDK's Args class spells them on the wire."""
    module, name = sdk_classes()[token]
    args = getattr(importlib.import_module(module), f"{name}Args")
    return set(pulumi._types.input_type_py_to_pulumi_names(args).values())


ALL_TYPES = sorted({row[0] for row in REPLACING} | set(REPLACE_ON_ANY_CHANGE) | set(IN_PLACE))
ROW_TYPES = sorted({row[0] for row in REPLACING} | set(REPLACE_ON_ANY_CHANGE))


# --- the table's tokens and keys exist in the installed SDKs (a typo fails here) ---------------------------------

def test_sdk_scan_finds_resources_and_providers():
    # Guards the scan itself: if the SDK layout changed and nothing matched, the checks below would prove nothing.
    classes = sdk_classes()
    assert classes["command:local:Command"] == ("pulumi_command.local.command", "Command")
    assert classes["pulumi:providers:command"][1] == "Provider"
    assert len([t for t in classes if t.startswith("cloudflare:")]) > 100


@pytest.mark.parametrize("token", ALL_TYPES)
def test_every_type_token_is_registered_by_the_installed_sdk(token):
    assert token in sdk_classes(), f"{token} is no resource type of pulumi_command/pulumi_cloudflare"
    cls = sdk_class(token)
    base = pulumi.ProviderResource if token.startswith("pulumi:providers:") else pulumi.CustomResource
    assert issubclass(cls, base)


@pytest.mark.parametrize(("token", "key", "source"), REPLACING, ids=[f"{r[0]}.{r[1]}" for r in REPLACING])
def test_every_replacing_key_is_an_input_of_its_type(token, key, source):
    assert key in sdk_inputs(token)
    # Each row names the repository, the file and its line.
    assert re.search(r"\S+/\S+@\S+ \S+\.(go|json):\d+", source), source


def test_every_special_type_says_where_it_was_read():
    for source in (*REPLACE_ON_ANY_CHANGE.values(), *IN_PLACE.values()):
        assert re.search(r"\S+\.go:\d+", source), source


def test_pulumi_command_sdk_replace_on_changes_agree():
    # The generated SDK copies the schema's replaceOnChanges into a resource option; every type that has one
    # must have the same top-level keys here (CopyFile has none: its provider replaces on any change anyway).
    option = re.compile(r"replace_on_changes=(\[.*?\])\)")
    seen = {}
    for token, (module, _name) in sdk_classes().items():
        if not token.startswith("command:"):
            continue
        source = Path(importlib.import_module(module).__file__).read_text()
        for found in option.findall(source):
            paths = ast.literal_eval(found)
            seen[token] = {re.split(r"[.\[]", path)[0] for path in paths}
    assert seen, "no replace_on_changes found in pulumi_command: scan broken"
    ours = {}
    for token, key, _source in REPLACING:
        if token.startswith("command:"):
            ours.setdefault(token, set()).add(key)
    assert seen == ours


def test_every_command_type_of_the_sdk_is_in_the_table():
    # pulumi-command is small: a new resource type in an SDK upgrade must be read, not silently unknown.
    command_types = {t for t in sdk_classes() if t.startswith("command:")}
    assert command_types <= set(ALL_TYPES)


def test_every_resource_type_the_program_registers_is_covered():
    # Any cloudflare.X( / command.local.X( / command.remote.X( call in components/ that builds a resource
    # (Args classes and functions have no type token and are skipped).
    calls = re.compile(r"\b(cloudflare|command\.local|command\.remote)\.(\w+)\(")
    prefix = {"cloudflare": "pulumi_cloudflare.", "command.local": "pulumi_command.local.",
              "command.remote": "pulumi_command.remote."}
    registered = set()
    for path in (REPO / "components").rglob("*.py"):
        for namespace, name in calls.findall(path.read_text()):
            registered |= {token for token, (module, cls) in sdk_classes().items()
                           if cls == name and module.startswith(prefix[namespace])}
    assert {"cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/zone:Zone", "command:local:Command",
            "command:remote:Command", "command:remote:CopyToRemote"} <= registered
    assert all(covered(token) for token in registered), sorted(t for t in registered if not covered(t))


def test_provider_tokens_name_the_installed_plugins():
    for sdk in SDKS:
        name = json.loads((Path(sdk.__file__).parent / "pulumi-plugin.json").read_text())["name"]
        assert f"pulumi:providers:{name}" in IN_PLACE


# --- pulumi-command ---------------------------------------------------------------------------------------------

COMMANDS = ("command:local:Command", "command:remote:Command")


@pytest.mark.parametrize("token", (*COMMANDS, "command:remote:CopyToRemote"))
def test_command_triggers_replace(token):
    assert replacing_keys(token, ["triggers"]) == ("triggers",)


@pytest.mark.parametrize("token", COMMANDS)
@pytest.mark.parametrize("key", ["create", "update", "delete", "stdin", "environment", "logging",
                                 "addPreviousOutputInEnv"])
def test_command_scripts_and_environment_update_in_place(token, key):
    # A new create/update/delete script runs `update` (or `create`) again on the same resource.
    assert replacing_keys(token, [key]) == ()


def test_local_command_only_keys_update_in_place():
    for key in ("interpreter", "dir", "assetPaths", "archivePaths"):
        assert replacing_keys("command:local:Command", [key]) == ()


def test_remote_connection_change_updates_in_place():
    # Moving a command to another host (new connection.host) is an update, not a replacement: the provider
    # runs `update` against the new host and never `delete` on the old one.
    assert replacing_keys("command:remote:Command", ["connection"]) == ()
    assert replacing_keys("command:remote:CopyToRemote", ["connection", "source", "remotePath"]) == ()


@pytest.mark.parametrize("token", [*COMMANDS, "command:remote:CopyToRemote"])
def test_command_every_other_sdk_input_updates_in_place(token):
    others = sdk_inputs(token) - {"triggers"}
    assert others
    assert replacing_keys(token, others) == ()


def test_command_mixed_change_names_only_triggers():
    changed = ["create", "triggers", "environment", "connection", "update"]
    assert replacing_keys("command:remote:Command", changed) == ("triggers",)
    assert replacing_keys("command:local:Command", iter(changed)) == ("triggers",)


def test_copy_file_replaces_on_any_change():
    token = "command:remote:CopyFile"
    assert replacing_keys(token, ["localPath"]) == ("localPath",)
    assert replacing_keys(token, ["triggers", "remotePath", "connection"]) == ("connection", "remotePath", "triggers")
    assert replacing_keys(token, sdk_inputs(token)) == tuple(sorted(sdk_inputs(token)))
    # Engine-internal keys never reach the provider's diff.
    assert replacing_keys(token, ["__defaults", "localPath", "localPath"]) == ("localPath",)
    assert replacing_keys(token, []) == ()


# --- pulumi-cloudflare ------------------------------------------------------------------------------------------

CLOUDFLARE_REPLACING = {
    "cloudflare:index/dnsRecord:DnsRecord": {"type", "zoneId"},
    "cloudflare:index/record:Record": {"type", "zoneId"},
    "cloudflare:index/zone:Zone": {"name", "account"},
    "cloudflare:index/zoneDnssec:ZoneDnssec": {"zoneId"},
    "cloudflare:index/zoneSetting:ZoneSetting": {"settingId", "zoneId"},
}


@pytest.mark.parametrize(("token", "keys"), sorted(CLOUDFLARE_REPLACING.items()))
def test_cloudflare_immutable_fields_replace(token, keys):
    for key in keys:
        assert replacing_keys(token, [key]) == (key,)
    assert replacing_keys(token, keys) == tuple(sorted(keys))


@pytest.mark.parametrize(("token", "keys"), sorted(CLOUDFLARE_REPLACING.items()))
def test_cloudflare_every_other_sdk_input_updates_in_place(token, keys):
    others = sdk_inputs(token) - keys
    assert others
    for key in others:
        assert replacing_keys(token, [key]) == (), key


def test_dns_record_content_change_is_an_update():
    # The everyday change: a new address, TTL, proxy flag, comment or CAA data keeps the record's id.
    for key in ("content", "ttl", "proxied", "comment", "data", "priority", "tags", "name", "settings"):
        assert replacing_keys("cloudflare:index/dnsRecord:DnsRecord", [key]) == ()


def test_dns_record_mixed_change():
    # A -> AAAA with a new address: the type forces a new record, the content alone would not.
    changed = {"content", "type", "ttl"}
    assert replacing_keys("cloudflare:index/dnsRecord:DnsRecord", changed) == ("type",)
    assert replacing_keys("cloudflare:index/record:Record", [*changed, "zoneId"]) == ("type", "zoneId")


def test_zone_rename_replaces_and_pause_does_not():
    token = "cloudflare:index/zone:Zone"
    assert replacing_keys(token, ["paused", "type", "vanityNameServers"]) == ()
    assert replacing_keys(token, ["paused", "name"]) == ("name",)
    assert replacing_keys(token, ["account", "paused"]) == ("account",)


def test_dnssec_status_and_zone_setting_value_update_in_place():
    assert replacing_keys("cloudflare:index/zoneDnssec:ZoneDnssec", ["status", "dnssecUseNsec3"]) == ()
    assert replacing_keys("cloudflare:index/zoneSetting:ZoneSetting", ["value", "enabled"]) == ()
    assert replacing_keys("cloudflare:index/zoneSetting:ZoneSetting", ["value", "settingId"]) == ("settingId",)


def test_terraform_spelling_is_not_a_pulumi_key():
    # State and the new inputs carry Pulumi names; the snake_case Terraform name never appears there.
    assert replacing_keys("cloudflare:index/dnsRecord:DnsRecord", ["zone_id"]) == ()
    assert replacing_keys("cloudflare:index/zoneSetting:ZoneSetting", ["setting_id"]) == ()


# --- provider resources and everything else ------------------------------------------------------------------

def test_provider_config_changes_update_in_place():
    assert replacing_keys("pulumi:providers:cloudflare", ["apiToken", "version", "baseUrl"]) == ()
    assert replacing_keys("pulumi:providers:command", ["version"]) == ()
    assert covered("pulumi:providers:cloudflare")


@pytest.mark.parametrize("token", [
    "pulumi:pulumi:Stack",
    "isp:index:NameServer",
    "aws:s3/bucket:Bucket",
    "pulumi:providers:aws",
    "command:local:command",                    # case matters in type tokens
    "cloudflare:index/DnsRecord:DnsRecord",
    "cloudflare:index/dnsRecord:DnsRecord ",
    "",
])
def test_unknown_types_are_not_emulated(token):
    assert replacing_keys(token, ["triggers", "type", "zoneId", "name", "account", "localPath"]) == ()
    assert not covered(token)


def test_result_is_a_sorted_tuple_of_distinct_keys():
    result = replacing_keys("cloudflare:index/zoneSetting:ZoneSetting", ["zoneId", "settingId", "zoneId"])
    assert result == ("settingId", "zoneId")
    assert type(result) is tuple
    assert replacing_keys("cloudflare:index/zone:Zone", ()) == ()
    assert replacing_keys("cloudflare:index/zone:Zone", (k for k in ["name"])) == ("name",)
