"""Which changed input keys make a provider replace a resource instead of updating it in place.

preflight cannot run a provider's Diff, so the answer is read once from the providers' own sources
and kept here as a table, one row per (type token, input key) with the place that says so. The
engine's part of the decision (a `replaceOnChanges` resource option, such as the `triggers[*]` the
pulumi-command SDK adds to every Command) is applied by the caller from the registration; this
table is the provider's part, and agrees with those options for pulumi-command.

Sources (versions as installed in .venv: pulumi-command 1.2.0, pulumi-cloudflare 6.23.0, pulumi 3.272):
- pulumi/pulumi-command@v1.2.0 (eb54e06), built on pulumi/pulumi-go-provider@v1.3.0 (3bfb720). Its
  resources have no custom Diff, so infer's default Diff decides (infer/resource.go:1132-1151): a key
  whose schema property is `replaceOnChanges` replaces; every other change updates in place, running
  the `update` command (or `create` again when `update` is unset; local/commandController.go:67-90,
  remote/commandController.go:63-84). A resource with no Update method is replaced on *any* change
  ("No update => every change is a replace", infer/resource.go:1147-1150).
- cloudflare/terraform-provider-cloudflare v5 (Plugin Framework), bridged by
  pulumi/pulumi-terraform-bridge@v3.133.0: the bridge's Diff asks Terraform's PlanResourceChange and
  turns its RequiresReplace paths into top-level Pulumi keys (pkg/pf/tfbridge/provider_diff.go:99-111).
  RequiresReplace comes from the attributes' plan modifiers in internal/services/<name>/schema.go; no
  ModifyPlan of these resources adds any (resource.go of each, read at v5.19.1). Lines cited are at
  v5.19.1 (b2277b8, the `upstream` submodule of pulumi/pulumi-cloudflare@52f065c) and identical at
  v5.22.0 (a2efdc5); the set is unchanged from v5.8.0 to v5.22.0. pulumi-cloudflare 6.23.0 is built
  from a later upstream than either (its DnsRecord has `includeShadowMetadata`), not readable here.
  Terraform names (snake_case) become Pulumi names by the bridge's camelCase rule.
- Provider resources (`pulumi:providers:<pkg>`): the engine diffs them by the plugin's DiffConfig
  (pulumi/pulumi@1b59498 pkg/resource/deploy/providers/registry.go:732-779). pulumi-command implements none
  (go-provider answers Unimplemented without infer.Options.Config: pulumi-go-provider provider.go:436-439),
  and the engine then reports "no replacement" (pkg/resource/plugin/provider_plugin.go:842-857). The
  bridge's DiffConfig replaces only for config keys marked ForcesProviderReplace
  (pulumi-terraform-bridge pkg/tfbridge/provider.go:820-831); pulumi-cloudflare marks none (its
  provider/resources.go:84-94 at 52f065c sets only Secret). So a changed provider config updates in place.

Not emulated: every other type (components included) has no row and gets (): what its provider's
Diff would decide is unknown to preflight. Changes below the top level, Check's normalisation, and
the provider's own state (a Terraform planned value equal to the prior state does not replace) are
not seen either; a key counts as soon as its input value changed.
"""

from __future__ import annotations

from collections.abc import Iterable

_COMMAND = "pulumi/pulumi-command@v1.2.0"
_GO_PROVIDER = "pulumi/pulumi-go-provider@v1.3.0"
_CLOUDFLARE = "cloudflare/terraform-provider-cloudflare@v5.19.1"

# (type token, Pulumi input key, where the provider says a change of it replaces the resource)
REPLACING: tuple[tuple[str, str, str], ...] = (
    ("command:local:Command", "triggers",
     f"{_COMMAND} provider/pkg/provider/common/inputs.go:10 `provider:\"replaceOnChanges\"`; "
     "provider/cmd/pulumi-resource-command/schema.json:360 \"replaceOnChanges\": true"),
    ("command:remote:Command", "triggers",
     f"{_COMMAND} provider/pkg/provider/common/inputs.go:10 `provider:\"replaceOnChanges\"`; "
     "provider/cmd/pulumi-resource-command/schema.json:468 \"replaceOnChanges\": true"),
    ("command:remote:CopyToRemote", "triggers",
     f"{_COMMAND} provider/pkg/provider/remote/copy.go:38 `provider:\"replaceOnChanges\"`; "
     "provider/cmd/pulumi-resource-command/schema.json:587 \"replaceOnChanges\": true"),
    ("cloudflare:index/dnsRecord:DnsRecord", "zoneId",
     f"{_CLOUDFLARE} internal/services/dns_record/schema.go:47 zone_id stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/dnsRecord:DnsRecord", "type",
     f"{_CLOUDFLARE} internal/services/dns_record/schema.go:98 type stringplanmodifier.RequiresReplace()"),
    # The deprecated Record is the same Terraform resource under its v4 name (pulumi/pulumi-cloudflare
    # provider/resources.go:501-503, alias of cloudflare_dns_record).
    ("cloudflare:index/record:Record", "zoneId",
     f"{_CLOUDFLARE} internal/services/dns_record/schema.go:47 zone_id stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/record:Record", "type",
     f"{_CLOUDFLARE} internal/services/dns_record/schema.go:98 type stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/zone:Zone", "name",
     f"{_CLOUDFLARE} internal/services/zone/schema.go:79 name stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/zone:Zone", "account",
     f"{_CLOUDFLARE} internal/services/zone/schema.go:89 account objectplanmodifier.RequiresReplace()"),
    # zone_dnssec's and zone_setting's `id` also require replacement but are computed, never inputs.
    ("cloudflare:index/zoneDnssec:ZoneDnssec", "zoneId",
     f"{_CLOUDFLARE} internal/services/zone_dnssec/schema.go:38 zone_id stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/zoneSetting:ZoneSetting", "settingId",
     f"{_CLOUDFLARE} internal/services/zone_setting/schema.go:37 setting_id stringplanmodifier.RequiresReplace()"),
    ("cloudflare:index/zoneSetting:ZoneSetting", "zoneId",
     f"{_CLOUDFLARE} internal/services/zone_setting/schema.go:42 zone_id stringplanmodifier.RequiresReplace()"),
)

# Types whose provider cannot update in place: any changed input replaces them.
REPLACE_ON_ANY_CHANGE: dict[str, str] = {
    # Deprecated; its `triggers` tag is misspelt (`providers:"replaceOnDelete"`, remote/copyfile.go:34),
    # which does not matter: with no Update every change replaces.
    "command:remote:CopyFile":
        f"{_COMMAND} provider/pkg/provider/remote/copyfileController.go:30 implements no CustomUpdate; "
        f"{_GO_PROVIDER} infer/resource.go:1147-1150 \"No update => every change is a replace\"",
}

# Types read and found to update in place whatever input changes (listed so that `covered` knows them).
IN_PLACE: dict[str, str] = {
    "pulumi:providers:command":
        f"{_COMMAND} provider/pkg/provider/provider.go:32 infer.Options without Config -> DiffConfig "
        "Unimplemented; pulumi/pulumi pkg/resource/plugin/provider_plugin.go:842-857 -> no replacement",
    "pulumi:providers:cloudflare":
        "pulumi/pulumi-cloudflare provider/resources.go:84-94 no ForcesProviderReplace; "
        "pulumi/pulumi-terraform-bridge@v3.133.0 pkg/tfbridge/provider.go:820-831",
}

# Per type: the keys that replace, or None for "any key". Built once; looked up per resource.
_BY_TYPE: dict[str, frozenset[str] | None] = {}
for _type, _key, _source in REPLACING:
    _BY_TYPE[_type] = (_BY_TYPE.get(_type) or frozenset()) | {_key}
for _type in REPLACE_ON_ANY_CHANGE:
    _BY_TYPE[_type] = None
for _type in IN_PLACE:
    _BY_TYPE[_type] = frozenset()
del _type, _key, _source

_EMPTY: tuple[str, ...] = ()


def replacing_keys(resource_type: str, changed: Iterable[str]) -> tuple[str, ...]:
    """Those of `changed` (top-level input keys whose value changed) whose change makes the provider
    of `resource_type` replace the resource rather than update it, sorted; () for unknown types."""
    try:
        keys = _BY_TYPE[resource_type]
    except KeyError:
        return _EMPTY
    if keys is None:
        # Engine-internal keys (`__defaults`, ...) are dropped before a provider diffs.
        return tuple(sorted({key for key in changed if not key.startswith("__")}))
    if not keys:
        return _EMPTY
    hit = keys.intersection(changed)
    return tuple(sorted(hit)) if hit else _EMPTY


def covered(resource_type: str) -> bool:
    """Whether this table knows how `resource_type`'s provider diffs (else replacement is not emulated)."""
    return resource_type in _BY_TYPE
