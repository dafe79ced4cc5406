# Quick start on a fresh Debian machine (as root):  make lab   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACK_VENV := policies/.venv
STACK ?= dev
# The daemons whose own checkers prove what we render (named-checkconf, nft, postconf, ...),
# PostgreSQL and PHP for the backup and Roundcube checks, and what the lab runs beyond them:
# Dovecot's IMAP server (our dovecot.conf serves IMAP), openssl (stand-in certificates) and
# OpenDKIM, the mail host's signing milter (opendkim-tools: opendkim-testkey, opendkim-genkey).
DEBIAN_PACKAGES := bind9 bind9-dnsutils nftables postfix dovecot-core dovecot-imapd nginx \
	policyd-rate-limit iproute2 postgresql php-cli openssl iptables opendkim opendkim-tools

.PHONY: preview test fuzz lint deps debian-packages venv pack-venv clean lab lab-down bench

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The pack's own virtualenv, as PulumiPolicy.yaml names it (the CLI does not create it).
pack-venv: $(PACK_VENV)/.installed
$(PACK_VENV)/.installed: policies/requirements.txt
	$(PYTHON) -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/python -m pip install -q --disable-pip-version-check -r policies/requirements.txt
	touch $@

deps:
	@missing=""; for c in named-checkconf nft postconf doveconf nginx policyd-rate-limit ip pg_ctlcluster php openssl \
	  opendkim opendkim-testkey; do \
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing=1; done; \
	[ -x /usr/lib/dovecot/imap ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES); \
	fi

debian-packages:
	@echo $(DEBIAN_PACKAGES)

preview: venv pack-venv
	$(PY) -m preflight preview --stack $(STACK) --policy-pack policies

test: deps venv pack-venv
	$(PY) -m pytest -q

# The fuzz tests (also part of `make test`, bounded there) with many more examples; prints how
# many values were tried per field and renderer and what became of them. FUZZ_EXAMPLES=n to scale.
FUZZ_EXAMPLES ?= 1000
fuzz: deps venv pack-venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=1 $(PY) -m pytest -q tests/fuzz

lint: venv
	$(PY) -m ruff check .

# Preview and policy-pack scaling against Pulumi's own floor (about 1k, 4k and 16k resources):
# prints the table, writes bench/results.json and the table in bench/README.md (about 11 minutes).
bench: venv pack-venv
	$(PY) -m bench.run

clean:
	rm -rf build .pytest_cache

# The lab (root): the lab stack in network namespaces on this machine, proven by the probes;
# it stays up until `make lab-down`. Running it again converges.
lab: deps venv
	$(PY) -m lab up

lab-down: venv
	$(PY) -m lab down
