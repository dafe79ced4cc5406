"""The isp-lessons policy pack: assembled from the rule modules, nothing else."""

import dns_rules
import gateway_rules
import hosting_rules
import mail_rules
from pulumi_policy import PolicyPack

PolicyPack(
    name="isp-lessons",
    policies=[*dns_rules.POLICIES, *hosting_rules.POLICIES, *mail_rules.POLICIES, *gateway_rules.POLICIES],
)
