"""The isp-lessons policy pack: every policy declared at its rule, in the lesson registry's order."""

import lessons
import packruntime
from pulumi_policy import PolicyPack

# On a large stack the SDK's per-request config parsing would cost quadratic time, and its per-policy
# deserialisation of AnalyzeStack ten times the work (see packruntime).
packruntime.memoize_config_env()
packruntime.share_stack_resources()
packruntime.tune_collector()
PolicyPack(name="isp-lessons", policies=[declaration.policy() for declaration in lessons.declarations()])
