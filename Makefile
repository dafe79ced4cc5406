# Quick start on a fresh Debian machine (as root):  make lab   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACK_VENV := policies/.venv
STACK ?= dev
# The daemons whose own checkers prove what we render (named-checkconf, nft, postconf, ...),
# PostgreSQL and PHP for the backup and Roundcube checks, and what the lab runs beyond them:
# Dovecot's IMAP server (our dovecot.conf serves IMAP), openssl (stand-in certificates),
# OpenDKIM, the mail host's signing milter (opendkim-tools: opendkim-testkey, opendkim-genkey),
# MariaDB beside PostgreSQL on the lab's db host, Roundcube (SQLite store) under PHP-FPM on its
# webmail host, and Chromium (with NSS's certutil) for the lab's one real-browser login.
DEBIAN_PACKAGES := bind9 bind9-dnsutils nftables postfix dovecot-core dovecot-imapd nginx \
	policyd-rate-limit iproute2 postgresql php-cli openssl iptables opendkim opendkim-tools \
	mariadb-server roundcube-core roundcube-sqlite3 php-fpm chromium libnss3-tools
# Roundcube's store is ours (isp:webmail, rendered and initialised by the delivery): Debian's
# dbconfig-common is told not to set one up, so installing the package asks and starts nothing.
DEBCONF_SELECTIONS := roundcube-core roundcube/dbconfig-install boolean false

.PHONY: preview test fuzz lint deps debian-packages debconf-selections venv pack-venv clean lab lab-down bench bench-audit

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
	  opendkim opendkim-testkey mariadbd mysqldump php-fpm8.2 chromium certutil; do \
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing=1; done; \
	[ -x /usr/lib/dovecot/imap ] && [ -e /usr/share/roundcube/index.php ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo '$(DEBCONF_SELECTIONS)' | $$SUDO debconf-set-selections; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES); \
	fi

debian-packages:
	@echo $(DEBIAN_PACKAGES)

debconf-selections:
	@echo '$(DEBCONF_SELECTIONS)'

preview: venv pack-venv
	$(PY) -m preflight preview --stack $(STACK) --policy-pack policies

# Two workers on this 2-core machine (-n auto); a file's tests stay on one worker, so the lab's
# namespaces and each module's fixtures are never shared between processes.
test: deps venv pack-venv
	$(PY) -m pytest -q -n auto --dist loadfile

# The fuzz tests (also part of `make test`, bounded there) with many more examples; prints how
# many values were tried per field and renderer and what became of them. FUZZ_EXAMPLES=n to scale.
FUZZ_EXAMPLES ?= 1000
fuzz: deps venv pack-venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=1 $(PY) -m pytest -q tests/fuzz

lint: venv
	$(PY) -m ruff check .

# Preview and policy-pack scaling against Pulumi's own floor (about 1k, 4k and 16k resources):
# prints the table, writes bench/results.json and the table in bench/README.md (about 11 minutes).
# Audits dev and prod against fake servers on loopback, all answering and with hosts silent; prints the
# table and writes bench/audit-results.json (about 3 minutes, almost all of it waiting out timeouts).
bench-audit: venv
	$(PY) -m bench.audit

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
