"""Reading the stack's keys: errors name the key and the rule, and never show a secret.

Under the Pulumi CLI the program sees every secret decrypted; these tests hand `load_stack_config`
the config exactly so (values in clear text, their keys listed as secret, as the engine does).
"""

from __future__ import annotations

import json

import pulumi
import pytest

from components.config import ConfigError, load_stack_config, parse_stack_config
from components.config.loading import split_secrets
from tests.components.conftest import RecordingMocks

# What an operator pastes: an OpenSSH deploy key (ssh-keygen -t ed25519) and a Cloudflare API token.
DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDdHVoQk1OYkWnE8pA1ySgNmC9W4hvxEzD9AXYk2Dm1rQAAAJj6aO9Z+mjv\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
TOKEN = "Zq3xY7Kp1mN8vB2cL5tR9wE4uI6oA0sD_fGhJkLz"
# Fragments of the secrets that must never reach a message.
LEAKS = ("b3BlbnNzaC1rZXkt", "AAAAJj6aO9Z", TOKEN, TOKEN[:16], "hunter2")


def assert_no_leak(message: str) -> None:
    for fragment in LEAKS:
        assert fragment not in message, message


def error_of(values: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, "Pulumi.dev.yaml")
    return str(caught.value)


def load(values: dict, secrets: dict[str, str]) -> str | object:
    """load_stack_config as under the CLI: every value in clear, `secrets` listed as secret keys."""
    pulumi.runtime.set_mocks(RecordingMocks(), project="isp", stack="dev", preview=True)
    config = {f"isp:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    config.update({f"isp:{k}": v for k, v in secrets.items()})
    pulumi.runtime.set_all_config(config, [f"isp:{k}" for k in secrets])
    try:
        return load_stack_config()
    except pulumi.RunError as error:
        return str(error)
    finally:
        pulumi.runtime.set_all_config({}, [])


@pytest.mark.parametrize("value", [DEPLOY_KEY, TOKEN, "hunter2", {"key": TOKEN}, [TOKEN]])
def test_an_unknown_key_never_shows_its_value(dev_values, value):
    dev_values["sshPrivatKey"] = value  # a mistyped secret key, set in plain text
    message = error_of(dev_values)
    assert "isp:sshPrivatKey is not a known setting (did you mean sshPrivateKey?)" in message
    assert "[redacted" in message
    assert_no_leak(message)


@pytest.mark.parametrize("key", ["note", "dnsSettings", "ssh"])
def test_an_unknown_key_never_shows_even_a_plain_looking_value(dev_values, key):
    """Whatever its name, an unknown key may be a secret set under a name we never guessed."""
    dev_values[key] = "hunter2"
    message = error_of(dev_values)
    assert f"isp:{key} is not a known setting" in message and "(value [redacted: 7 characters])" in message
    assert_no_leak(message)


def test_an_unknown_nested_key_never_shows_its_value_and_suggests_the_setting(dev_values):
    dev_values["hosts"][0]["sshPrivateKey"] = DEPLOY_KEY
    dev_values["hosts"][1]["sshUsr"] = "deploy"
    message = error_of(dev_values)
    assert f"isp:hosts[0].sshPrivateKey is not a known setting (value [redacted: {len(DEPLOY_KEY)} characters])" \
        in message
    assert "isp:hosts[1].sshUsr is not a known setting (did you mean sshUser?)" in message
    assert_no_leak(message)


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda v: v["hosts"][0].update(sshUser=TOKEN), "isp:hosts[0].sshUser"),
    (lambda v: v["organization"].update(contactEmail=DEPLOY_KEY), "isp:organization.contactEmail"),
    (lambda v: v["networks"]["servers"].append(TOKEN), "isp:networks.servers[1]"),
    (lambda v: v.update(zonesFrom=TOKEN), "isp:zonesFrom"),
    (lambda v: v["hosts"][4]["database"].update(backupDir="/var/" + TOKEN + "/x y"), "isp:hosts[4].database.backupDir"),
])
def test_a_wrong_value_that_looks_secret_is_redacted_but_its_key_and_rule_are_named(dev_values, mutate, key):
    mutate(dev_values)
    message = error_of(dev_values)
    assert key in message and "[redacted" in message
    assert_no_leak(message)


def test_plain_values_stay_shown(dev_values):
    dev_values["hosts"][1]["privateAddress"] = "10.30.0.999"
    dev_values["hosts"][2]["name"] = "ns1;reboot"
    message = error_of(dev_values)
    assert 'isp:hosts[1].privateAddress = "10.30.0.999"' in message
    assert 'isp:hosts[2].name = "ns1;reboot"' in message


def test_a_zones_from_error_never_shows_a_secret_looking_value(dev_values, tmp_path):
    dev_values["zonesFrom"] = [f"zones/{TOKEN}.yaml"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))
    assert "isp:zonesFrom[0]" in str(caught.value)
    assert_no_leak(str(caught.value))


def test_odd_key_names_are_quoted_and_escaped(dev_values):
    dev_values["bad\x1b[2J\nkey"] = 1
    message = error_of(dev_values)
    assert '"bad\\u001b[2J\\nkey" is not a known setting' in message
    assert "\x1b" not in message and message.count("\n") == 1


def test_engine_secret_values_never_reach_a_message(dev_values):
    """The SSH and webmail keys as the CLI hands them: decrypted, listed secret, kept out of the model."""
    cfg = load(dev_values, {"sshPrivateKey": DEPLOY_KEY, "webmailTlsKey": DEPLOY_KEY})
    assert not isinstance(cfg, str), cfg
    dev_values["hosts"][0]["sshUser"] = "Root"
    message = load(dev_values, {"sshPrivateKey": DEPLOY_KEY})
    assert "isp:hosts[0].sshUser" in message
    assert_no_leak(message)


def test_a_mistyped_secret_key_is_refused_without_its_value(dev_values):
    message = load(dev_values, {"sshPrivatKey": DEPLOY_KEY})
    assert "isp:sshPrivatKey is a secret that no setting reads (did you mean sshPrivateKey?)" in message
    assert f"[redacted: {len(DEPLOY_KEY)} characters]" in message
    assert_no_leak(message)


@pytest.mark.parametrize("setting", ["hosts", "organization", "webmail"])
def test_a_secure_value_nested_in_a_setting_is_refused(dev_values, setting):
    """`isp:hosts[0].sshUser: {secure: ...}` makes the whole of isp:hosts secret (the engine's rule)."""
    message = load(dev_values, {setting: json.dumps(dev_values[setting]).replace("deploy", "hunter2")})
    assert f"isp:{setting} holds a secure value; secrets belong in keys of their own" in message
    assert "sshPrivateKey" in message
    assert_no_leak(message)


def test_split_secrets_keeps_each_hosts_own_key_out_of_the_model(dev_values):
    dev_values["hosts"][0]["sshKeyConfig"] = "gatewayKey"
    raw = {**dev_values, "gatewayKey": DEPLOY_KEY, "sshPrivateKey": DEPLOY_KEY, "acmeCloudflareToken": TOKEN}
    values = split_secrets(raw, {"gatewayKey", "sshPrivateKey", "acmeCloudflareToken"}, "Pulumi.dev.yaml")
    assert set(values) == set(dev_values)
    cfg = load(dev_values, {"gatewayKey": DEPLOY_KEY, "sshPrivateKey": DEPLOY_KEY})
    assert not isinstance(cfg, str), cfg
    assert cfg.hosts[0].ssh_key_config == "gatewayKey"


@pytest.mark.parametrize("name", [
    "zones", "hosts", "zonesFrom", "zones_from", "organization", "networks", "webmail", "protect", "delivery",
    "webmailTlsKey", "acmeCloudflareToken",
])
def test_ssh_key_config_may_not_name_another_setting(dev_values, name):
    """Today's bug: `sshKeyConfig: zones` dropped every zone from the model, silently."""
    dev_values["hosts"][0]["sshKeyConfig"] = name
    message = load(dev_values, {"sshPrivateKey": DEPLOY_KEY})
    assert isinstance(message, str), "accepted"
    assert f'isp:hosts[0].sshKeyConfig = "{name}": names the setting {name}' in message
    assert "must be one of the zones" not in message  # the zones are still there


# The DKIM keys' secrets: each key's privateKeyConfig, by default dkimKey_ and its selector.


def test_split_secrets_keeps_each_dkim_keys_secret_out_of_the_model(dev_values):
    dev_values["mail"]["dkim"]["keys"].append({**dev_values["mail"]["dkim"]["keys"][0], "selector": "s2026b",
                                               "privateKeyConfig": "nextSigningKey"})
    secrets = {"sshPrivateKey": DEPLOY_KEY, "dkimKey_s2026a": DEPLOY_KEY, "nextSigningKey": DEPLOY_KEY,
               "mtaStsTlsKey": DEPLOY_KEY}
    values = split_secrets({**dev_values, **secrets}, set(secrets), "Pulumi.dev.yaml")
    assert set(values) == set(dev_values)
    cfg = load(dev_values, secrets)
    assert not isinstance(cfg, str), cfg
    assert [k.private_key_config for k in cfg.mail.dkim.keys] == ["dkimKey_s2026a", "nextSigningKey"]


def test_a_dkim_secret_no_key_names_is_refused_unshown(dev_values):
    """A secret for a selector that is not in keys (a typo, or a key retired without its secret)."""
    message = load(dev_values, {"sshPrivateKey": DEPLOY_KEY, "dkimKey_s2026x": DEPLOY_KEY})
    assert isinstance(message, str), "accepted"
    assert "isp:dkimKey_s2026x is a secret that no setting reads (did you mean dkimKey_s2026a?)" in message
    assert "privateKeyConfig" in message
    assert_no_leak(message)


@pytest.mark.parametrize("name", ["zones", "mail", "webmailTlsKey", "sshPrivateKey"])
def test_a_dkim_private_key_config_may_not_name_another_setting(dev_values, name):
    dev_values["mail"]["dkim"]["keys"][0]["privateKeyConfig"] = name
    message = load(dev_values, {"sshPrivateKey": DEPLOY_KEY})
    assert isinstance(message, str), "accepted"
    assert f'isp:mail.dkim.keys[0].privateKeyConfig = "{name}": names the setting {name}' in message
    assert "must be one of the zones" not in message  # the setting is still read as a setting
