"""The stack's DNS data agrees with itself: FCrDNS for every host, SPF for the mail hosts."""

from __future__ import annotations

import ipaddress
import re

import dns.name
import dns.rdatatype
import dns.zone
import pulumi
import pytest

from components.config import parse_stack_config
from components.dns_data import forward_zone_file, pool_zone_file, reverse_zones, spf_record, zone_records
from components.dns_zone import DnsZone, DnsZoneArgs
from components.render.bind import ZONE_SERIAL_PLACEHOLDER
from components.render.mtasts import policy_id
from tests.components.clock import run_moved
from tests.conftest import require_tool, run_tool, stack_values


def _bind_answers(cfg) -> dict[tuple[str, str], set[str]]:
    """Every PTR and A in our BIND zone files, $GENERATE expanded by dnspython."""
    answers: dict[tuple[str, str], set[str]] = {}
    files = [r.file for r in reverse_zones(cfg)]
    if pool := pool_zone_file(cfg):
        files.append(pool)
    for zone_file in files:
        zone = dns.zone.from_text(zone_file.text, origin=zone_file.zone, relativize=False)
        for name, rdataset in zone.iterate_rdatasets():
            for rdata in rdataset:
                key = (name.to_text().rstrip("."), dns.rdatatype.to_text(rdataset.rdtype))
                answers.setdefault(key, set()).add(rdata.to_text().rstrip("."))
    return answers


def test_every_public_host_has_fcrdns(prod_values):
    cfg = parse_stack_config(prod_values)
    bind = _bind_answers(cfg)
    forward = {}
    for zone in cfg.zones:
        for record in zone_records(cfg, zone):
            forward.setdefault((record.name, record.type), set()).add(record.content)
    for host in cfg.hosts:
        for address, rtype in ((host.public_address, "A"), (host.public_address6, "AAAA")):
            if address is None:
                continue
            ptr = bind[(address.reverse_pointer, "PTR")]
            assert ptr == {cfg.fqdn(host)}
            assert str(address) in forward[(cfg.fqdn(host), rtype)]


def test_customer_pool_names_resolve_back(prod_values):
    cfg = parse_stack_config(prod_values)
    bind = _bind_answers(cfg)
    for pool in cfg.networks.customer_pools:
        if pool.prefix.version != 4:
            continue
        for address in (pool.prefix[0], pool.prefix[-1]):
            (name,) = bind[(address.reverse_pointer, "PTR")]
            assert bind[(name, "A")] == {str(address)}


def test_unpublished_ptr_leaves_no_ptr(prod_values):
    mail = next(h for h in prod_values["hosts"] if h["name"] == "mail")
    mail["publishPtr"] = False
    cfg = parse_stack_config(prod_values)
    assert ("25.100.51.198.in-addr.arpa", "PTR") not in _bind_answers(cfg)


def test_spf_names_exactly_the_mail_hosts_and_costs_no_lookup(prod_values):
    cfg = parse_stack_config(prod_values)
    spf = spf_record(cfg)
    terms = spf.split()
    assert terms[0] == "v=spf1" and terms[-1] == "-all"
    assert not [t for t in terms if re.match(r"^[+\-~?]?(include|a|mx|ptr|exists|redirect)\b", t)]
    addresses = {ipaddress.ip_address(t.split(":", 1)[1]) for t in terms if t.startswith(("ip4:", "ip6:"))}
    assert addresses == {a for h in cfg.hosts_with("mail") for a in (h.public_address, h.public_address6) if a}


def test_zone_records_one_spf_and_dmarc_per_zone(prod_values):
    cfg = parse_stack_config(prod_values)
    for zone in cfg.zones:
        records = zone_records(cfg, zone)
        spf = [r for r in records if r.type == "TXT" and r.name == zone.name and r.content.startswith("v=spf1")]
        assert len(spf) == 1
        dmarc = [r for r in records if r.name == f"_dmarc.{zone.name}"]
        assert len(dmarc) == 1 and dmarc[0].content.startswith("v=DMARC1; p=reject")
        assert all(r.name == zone.name or r.name.endswith("." + zone.name) for r in records)


def test_zone_without_mail_says_so(dev_values):
    dev_values["zones"].append({"name": "example.com"})
    cfg = parse_stack_config(dev_values)
    records = zone_records(cfg, cfg.zones[1])
    assert [r.content for r in records if r.type == "TXT" and r.name == "example.com"] == ["v=spf1 -all"]


def test_user_spf_is_not_doubled(dev_values):
    dev_values["zones"][0]["records"] = [{"name": "@", "type": "TXT", "content": "v=spf1 mx -all"}]
    cfg = parse_stack_config(dev_values)
    spf = [r for r in zone_records(cfg, cfg.zones[0]) if r.content.startswith("v=spf1")]
    assert [r.content for r in spf] == ["v=spf1 mx -all"]


_ZONE_TEXTS = """
import json
from components.config import parse_stack_config
from components.dns_data import forward_zone_file, pool_zone_file, reverse_zones
from tests.conftest import stack_values
cfg = parse_stack_config(stack_values("lab"))  # the lab's BIND serves its forward zones too
files = [r.file for r in reverse_zones(cfg)] + [pool_zone_file(cfg)] + [forward_zone_file(cfg, z) for z in cfg.zones]
print(json.dumps({f.path: f.text for f in files}))
"""


def test_zone_files_are_the_same_on_any_day():
    """Rendered today and a year later (another time zone, another hash seed): byte for byte the same files,
    each with the placeholder serial that the host replaces at delivery."""
    import json

    now = json.loads(run_moved(_ZONE_TEXTS, days=0))
    later = json.loads(run_moved(_ZONE_TEXTS, days=365.6, tz="America/Los_Angeles", hash_seed=7))
    assert now == later
    assert len(now) >= 4  # reverse, pool and forward zones
    for text in now.values():
        assert f"( {ZONE_SERIAL_PLACEHOLDER} 3600 900 1209600 3600 )" in text


def _with_zone(values: dict, zone: dict):
    values["zones"].append(zone)
    cfg = parse_stack_config(values)
    return cfg, cfg.zones[-1]


def test_a_zone_without_mx_gets_the_null_mx(dev_values):
    """RFC 7505 §3: one MX, preference 0, exchange the root; beside it the SPF and DMARC of a zone that sends none."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [{"name": "@", "type": "A",
                                                                           "content": "192.0.2.80"}]})
    records = zone_records(cfg, zone)
    assert [(r.name, r.content, r.priority) for r in records if r.type == "MX"] == [("example.com", ".", 0)]
    assert [r.content for r in records if r.type == "TXT" and r.name == "example.com"] == ["v=spf1 -all"]
    assert [r.content for r in records if r.name == "_dmarc.example.com"] == [
        "v=DMARC1; p=reject; adkim=r; aspf=r; rua=mailto:hostmaster@example.org"]


@pytest.mark.parametrize("mx", [
    {"name": "@", "type": "MX", "content": "mail.example.org", "priority": 10},
    {"name": "example.com.", "type": "MX", "content": "mx.other-provider.example.", "priority": 5},
])
def test_a_zone_with_its_own_mx_gets_no_null_mx(dev_values, mx):
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [mx]})
    assert [r.content for r in zone_records(cfg, zone) if r.type == "MX"] == [mx["content"].rstrip(".")]


def test_an_mx_below_the_apex_leaves_the_apex_without_mail(dev_values):
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [
        {"name": "lists", "type": "MX", "content": "mail.example.org", "priority": 10}]})
    mx = sorted((r.name, r.content, r.priority) for r in zone_records(cfg, zone) if r.type == "MX")
    assert mx == [("example.com", ".", 0), ("lists.example.com", "mail.example.org", 10)]


def test_the_isp_domain_gets_its_mail_hosts_mx_never_the_null_mx(prod_values):
    cfg = parse_stack_config(prod_values)
    primary = next(z for z in cfg.zones if z.name == cfg.organization.domain)
    mx = [(r.content, r.priority) for r in zone_records(cfg, primary) if r.type == "MX"]
    assert mx == [(cfg.fqdn(h), 10 * i) for i, h in enumerate(cfg.hosts_with("mail"), start=1)]
    # Not even where the config (unvalidated here) lists no mail host: our domain is never said to take no mail.
    mailless = cfg.model_copy(update={"hosts": [h for h in cfg.hosts if "mail" not in h.roles]})
    assert [r for r in zone_records(mailless, primary) if r.type == "MX"] == []


def test_every_repo_zone_without_mail_has_exactly_the_null_mx():
    """Across the repo's stacks: a forward zone has the null MX alone, or mail exchangers and no null MX."""
    for stack in ("prod", "dev", "lab"):
        cfg = parse_stack_config(stack_values(stack))
        for zone in cfg.zones:
            apex = [(r.content, r.priority) for r in zone_records(cfg, zone) if r.type == "MX" and r.name == zone.name]
            assert apex, (stack, zone.name)
            assert apex == [(".", 0)] or (".", 0) not in apex, (stack, zone.name)


def test_the_null_mx_reaches_cloudflare_as_the_root_with_preference_zero(mocks, dev_values):
    """Cloudflare's MX: content is the mail server's name, "." for the null MX, and priority 0."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com"})

    @pulumi.runtime.test
    def run():
        args = DnsZoneArgs(zone=zone.name, account_id="0" * 32, records=zone_records(cfg, zone))
        return DnsZone(zone.name, args).zone.id

    run()
    mx = [r.inputs for r in mocks.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord"
          and r.inputs["type"] == "MX"]
    assert [(m["name"], m["content"], m["priority"]) for m in mx] == [("example.com", ".", 0)]


def test_the_null_mx_zone_file_loads_in_bind_as_preference_zero_to_the_root(tmp_path, dev_values):
    """BIND's own reading (named-checkzone -D) of our forward zone file, parsed by dnspython: MX 0 ."""
    cfg, zone = _with_zone(dev_values, {"name": "example.com", "records": [{"name": "www", "type": "A",
                                                                           "content": "192.0.2.80"}]})
    zone_file = forward_zone_file(cfg, zone)
    path = tmp_path / "db.example.com"
    path.write_text(zone_file.text)
    loaded = run_tool(require_tool("named-checkzone"), "-D", "-o", "-", "example.com", str(path))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    parsed = dns.zone.from_text(loaded.stdout, origin="example.com", relativize=False)
    (mx,) = parsed.find_rdataset("example.com.", dns.rdatatype.MX)  # one MX: RFC 7505 §3
    assert (mx.preference, mx.exchange) == (0, dns.name.root)


# ---------------------------------------------------------------------------------------
# Mail authentication: DKIM (RFC 6376), DMARC (RFC 7489), MTA-STS (RFC 8461), TLS-RPT (RFC 8460)

CUSTOMER_MX = {"name": "@", "type": "MX", "content": "mail.example.net", "priority": 10}


def _txt(cfg, name: str) -> list[str]:
    return [r.content for z in cfg.zones for r in zone_records(cfg, z) if r.name == name and r.type == "TXT"]


def _tags(record: str) -> dict[str, str]:
    """RFC 7489 §6.4 / RFC 6376 §3.2 tag-lists: `tag=value` pairs separated by ';'."""
    return dict((part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip()) for part in record.split(";")
                if part.strip())


@pytest.fixture(scope="module")
def signing_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return pem, base64.b64encode(public).decode()


def _signing(values: dict, public: str, selector: str = "brisbane") -> dict:
    values["mail"]["dkim"] = {"signWith": [selector], "keys": [{"selector": selector, "publicKey": public}]}
    return values


def test_a_message_signed_with_the_key_verifies_against_the_published_record(prod_values, signing_key):
    """dkimpy, an independent verifier, finds the key at <selector>._domainkey.<d> in our records, per domain."""
    import dkim

    pem, public = signing_key
    prod_values["zones"].append({"name": "hosted.org", "records": [CUSTOMER_MX]})
    cfg = parse_stack_config(_signing(prod_values, public))

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        found = _txt(cfg, name.decode().rstrip("."))
        return found[0].encode() if found else b""

    for domain in ("example.net", "example.com", "hosted.org"):
        message = (f"From: customer@{domain}\r\nTo: friend@elsewhere.example\r\nSubject: hi\r\n\r\nhello\r\n").encode()
        signature = dkim.sign(message, b"brisbane", domain.encode(), pem, include_headers=[b"from", b"to", b"subject"])
        assert dkim.verify(signature + message, dnsfunc=dnsfunc), domain
    assert _txt(cfg, "brisbane._domainkey.example.net") == [f"v=DKIM1; k=rsa; p={public}"]


def test_every_published_key_is_in_every_hosted_mail_domain_and_nowhere_else(prod_values, signing_key):
    """Rotation publishes the next key beside the signing one (RFC 6376 §3.1: selectors exist for this)."""
    _, public = signing_key
    values = _signing(prod_values, public, "s2026a")
    values["mail"]["dkim"]["keys"].append({"selector": "s2026b", "publicKey": public})
    values["zones"] += [{"name": "elsewhere.org", "records": [{**CUSTOMER_MX, "content": "mx.other.example"}]},
                        {"name": "quiet.org"}]
    cfg = parse_stack_config(values)
    published = sorted(r.name for z in cfg.zones for r in zone_records(cfg, z) if "._domainkey." in r.name)
    assert published == sorted(f"{s}._domainkey.{d}" for s in ("s2026a", "s2026b") for d in ("example.net",
                                                                                                "example.com"))


def test_without_dkim_no_key_is_published(prod_values):
    prod_values["mail"].pop("dkim")
    cfg = parse_stack_config(prod_values)
    assert not [r for z in cfg.zones for r in zone_records(cfg, z) if "_domainkey" in r.name]


def test_a_2048_bit_key_reaches_bind_in_255_byte_strings(dev_values, tmp_path):
    """RFC 1035 §3.3.14: a character-string holds 255 bytes; a 2048-bit key needs two, joined by the verifier."""
    cfg = parse_stack_config(dev_values)
    zone_file = forward_zone_file(cfg, cfg.zones[0])
    path = tmp_path / "db.example.org"
    path.write_text(zone_file.text)
    loaded = run_tool(require_tool("named-checkzone"), "-D", "-o", "-", "example.org", str(path))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    parsed = dns.zone.from_text(loaded.stdout, origin="example.org", relativize=False)
    (txt,) = parsed.find_rdataset("s2026a._domainkey.example.org.", dns.rdatatype.TXT)
    assert all(len(s) <= 255 for s in txt.strings) and len(txt.strings) >= 2
    assert b"".join(txt.strings).decode() == _txt(cfg, "s2026a._domainkey.example.org")[0]


@pytest.mark.parametrize("alignment,letter", [("relaxed", "r"), ("strict", "s")])
def test_every_zone_has_dmarc_with_alignment_and_reports_to_us(prod_values, alignment, letter):
    """RFC 7489 §6.3: v=DMARC1 first, then p; adkim/aspf; rua a mailto: of a mailbox we run."""
    prod_values["zones"].append({"name": "quiet.org", "dmarcAlignment": alignment})
    prod_values["zones"][0]["dmarcAlignment"] = alignment
    cfg = parse_stack_config(prod_values)
    for zone in (cfg.zones[0], cfg.zones[-1]):
        (record,) = _txt(cfg, f"_dmarc.{zone.name}")
        assert record.startswith("v=DMARC1; p=")
        assert _tags(record) == {"v": "DMARC1", "p": "reject", "adkim": letter, "aspf": letter,
                                 "rua": "mailto:hostmaster@example.net"}


def test_dmarc_is_none_on_our_mail_until_we_sign(prod_values):
    prod_values["mail"].pop("dkim")
    prod_values["zones"].append({"name": "quiet.org"})
    cfg = parse_stack_config(prod_values)
    assert _tags(_txt(cfg, "_dmarc.example.net")[0])["p"] == "none"
    assert _tags(_txt(cfg, "_dmarc.example.com")[0])["p"] == "none"
    assert _tags(_txt(cfg, "_dmarc.quiet.org")[0])["p"] == "reject"  # the null MX zone keeps reject


def test_other_domains_reports_are_authorized_at_the_contact_domain(prod_values):
    """RFC 7489 §7.1: a rua outside the domain counts only where <domain>._report._dmarc.<rua domain> says v=DMARC1."""
    prod_values["zones"] += [{"name": "quiet.org"}, {"name": "sub.example.net.customer.org"}]
    cfg = parse_stack_config(prod_values)
    primary = [r for r in zone_records(cfg, cfg.zones[0]) if "._report._dmarc." in r.name]
    assert [(r.name, r.type, r.content) for r in primary] == [
        (f"{d}._report._dmarc.example.net", "TXT", "v=DMARC1")
        for d in ("example.com", "quiet.org", "sub.example.net.customer.org")]
    assert not [r for z in cfg.zones[1:] for r in zone_records(cfg, z) if "._report._dmarc." in r.name]


def test_no_authorization_where_the_contact_domain_is_not_ours(dev_values):
    dev_values["organization"]["contactEmail"] = "dmarc@reports.example"
    dev_values["zones"].append({"name": "quiet.org"})
    cfg = parse_stack_config(dev_values)
    assert not [r for z in cfg.zones for r in zone_records(cfg, z) if "._report._dmarc." in r.name]
    assert _tags(_txt(cfg, "_dmarc.quiet.org")[0])["rua"] == "mailto:dmarc@reports.example"


def test_mta_sts_record_policy_and_name_as_checkdmarc_reads_them(prod_values):
    """RFC 8461 §3: `_mta-sts` TXT with an id, the policy's mx lines exactly the MX set in MX order, and
    mta-sts.<domain> on our web host, where the policy is served."""
    import checkdmarc.mta_sts as sts

    from components.dns_data import mta_sts_policies

    prod_values["zones"].append({"name": "hosted.org", "records": [
        {**CUSTOMER_MX, "content": "mail2.example.net", "priority": 20}, CUSTOMER_MX]})
    prod_values["hosts"].append({"name": "mail2", "privateAddress": "10.20.0.26", "publicAddress": "198.51.100.26",
                                 "roles": ["mail"]})
    cfg = parse_stack_config(prod_values)
    policies = mta_sts_policies(cfg)
    assert set(policies) == {"example.net", "example.com", "hosted.org"}
    for domain, text in policies.items():
        parsed = sts.parse_mta_sts_policy(text)
        assert parsed["warnings"] == []
        mx = [(r.priority, r.content) for z in cfg.zones for r in zone_records(cfg, z)
              if r.type == "MX" and r.name == domain]
        assert parsed["policy"]["mx"] == [host for _, host in sorted(mx)]
        assert parsed["policy"]["mode"] == "testing" and parsed["policy"]["max_age"] == 604800
        (record,) = _txt(cfg, f"_mta-sts.{domain}")
        assert sts.parse_mta_sts_record(record)["tags"]["id"] == policy_id(text)
        cname = [r.content for z in cfg.zones for r in zone_records(cfg, z) if r.name == f"mta-sts.{domain}"]
        assert cname == ["www.example.net"]
    assert policies["hosted.org"].count("mx: ") == 2
    assert policies["hosted.org"].index("mx: mail.example.net") < policies["hosted.org"].index("mx: mail2.")


def test_the_mta_sts_id_follows_the_mx_set(prod_values):
    cfg = parse_stack_config(prod_values)
    before = _txt(cfg, "_mta-sts.example.net")
    prod_values["hosts"].append({"name": "mail2", "privateAddress": "10.20.0.26", "publicAddress": "198.51.100.26",
                                 "roles": ["mail"]})
    after = _txt(parse_stack_config(prod_values), "_mta-sts.example.net")
    assert before != after and _txt(parse_stack_config(prod_values), "_mta-sts.example.net") == after


def test_no_mta_sts_where_no_mail_is_ours_or_none_is_configured(prod_values):
    from components.dns_data import mta_sts_policies

    prod_values["zones"] += [{"name": "quiet.org"},
                             {"name": "elsewhere.org", "records": [{**CUSTOMER_MX, "content": "mx.other.example"}]}]
    cfg = parse_stack_config(prod_values)
    assert "quiet.org" not in mta_sts_policies(cfg) and "elsewhere.org" not in mta_sts_policies(cfg)
    for domain in ("quiet.org", "elsewhere.org"):
        assert not [r for z in cfg.zones for r in zone_records(cfg, z)
                    if r.name in (f"_mta-sts.{domain}", f"mta-sts.{domain}", f"_smtp._tls.{domain}")]
    prod_values["mail"].pop("mtaSts")
    cfg = parse_stack_config(prod_values)
    assert mta_sts_policies(cfg) == {} and _txt(cfg, "_mta-sts.example.net") == []


@pytest.mark.parametrize("rua", [None, ["mailto:tlsrpt@example.net", "https://reports.example.net/tlsrpt"]])
def test_tls_rpt_on_every_hosted_mail_domain(prod_values, rua):
    """RFC 8460 §3: `_smtp._tls.<domain>` TXT `v=TLSRPTv1; rua=...`; by default to organization.contactEmail."""
    import checkdmarc.smtp_tls_reporting as tlsrpt

    if rua:
        prod_values["mail"]["tlsRpt"] = {"rua": rua}
    cfg = parse_stack_config(prod_values)
    for domain in ("example.net", "example.com"):
        (record,) = _txt(cfg, f"_smtp._tls.{domain}")
        parsed = tlsrpt.parse_smtp_tls_reporting_record(record)
        assert parsed["tags"]["rua"]["value"] == (rua or ["mailto:hostmaster@example.net"])


def test_the_operators_own_mail_records_win(prod_values, signing_key):
    _, public = signing_key
    own = [{"name": "brisbane._domainkey", "type": "TXT", "content": "v=DKIM1; k=rsa; p="},
           {"name": "mta-sts", "type": "A", "content": "198.51.100.80"},
           {"name": "_smtp._tls", "type": "TXT", "content": "v=TLSRPTv1; rua=mailto:own@example.com"}]
    prod_values["zones"][1]["records"] += own
    cfg = parse_stack_config(_signing(prod_values, public))
    assert _txt(cfg, "brisbane._domainkey.example.com") == ["v=DKIM1; k=rsa; p="]
    assert _txt(cfg, "_smtp._tls.example.com") == ["v=TLSRPTv1; rua=mailto:own@example.com"]
    assert [r.type for r in zone_records(cfg, cfg.zones[1]) if r.name == "mta-sts.example.com"] == ["A"]
