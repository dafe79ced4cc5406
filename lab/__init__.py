"""The lab: the stack `lab` deployed into Linux network namespaces on this machine, proven by traffic.

`python -m lab up` (what `make lab` runs, as root) builds the namespaces and their links from
Pulumi.lab.yaml, gives each server a root of its own, runs the stack's program under preflight's
runner and executes its `command:local:Command` resources in dependency order as the command
provider would, then runs the conformance probes and writes build/lab/report.txt. `python -m
lab down` removes every namespace, veth, process and mount it made. See lab/README.md.
"""
