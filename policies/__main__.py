"""The isp-lessons policy pack: assembled from the rule modules, nothing else."""

import backup_rules
import dns_rules
import gateway_rules
import hosting_rules
import mail_rules
import packruntime
import web_rules
from pulumi_policy import PolicyPack

# On a large stack the SDK's per-request config parsing would cost quadratic time, and its per-policy
# deserialisation of AnalyzeStack ten times the work (see packruntime).
packruntime.memoize_config_env()
packruntime.share_stack_resources()
packruntime.tune_collector()
PolicyPack(
    name="isp-lessons",
    policies=[
        *dns_rules.POLICIES,
        *hosting_rules.POLICIES,
        *mail_rules.POLICIES,
        *gateway_rules.POLICIES,
        *backup_rules.POLICIES,
        *web_rules.POLICIES,
    ],
)
