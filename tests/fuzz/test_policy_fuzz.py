"""Property-based: hostile resources through the analyzer protocol never break the pack.

Random and adversarial properties (unknown sentinels anywhere, wrong types, binary and huge
files, broken configs) on the resource types the pack reads: every answer is a violation, a
not-applicable or a clean pass, never a policy exception, and a huge file does not stall it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.model import ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration
from preflight.policyrun import run_policy_packs
from tests.conftest import REPO

STACK_URN = "urn:pulumi:prod::fuzz::pulumi:pulumi:Stack::fuzz-prod"
NAMED_CONF = 'options { allow-query { any; }; };\nacl "x" { any; };\nzone "a" { type primary; file "/x"; };\n'
FILE_PATHS = [
    "/etc/bind/named.conf",
    "/etc/bind/db.example.net",
    "/etc/postfix/main.cf",
    "/etc/postfix/master.cf",
    "/etc/nftables.conf",
    "/etc/nginx/sites-enabled/www",
    "/etc/dovecot/dovecot.conf",
    "/etc/policyd-rate-limit.yaml",
    "/etc/bind/zones/x.zone",
    "/srv/unrelated.txt",
]
TEXTS = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            NAMED_CONF,
            NAMED_CONF.replace("}", ""),
            "$GENERATE 0-999999 $ PTR x.",
            "$ORIGIN .\n@ SOA",
            "home_mailbox = Mailbox\nmessage_size_limit = -5\n",
            "submission inet n - y - - smtpd\n  -o",
            "table inet filter { chain forward { type filter hook forward priority 0; ",
            "limits: [[1e309, 86400]]",
            "server_name ;",
            "\x00\x01\x02",
            "{" * 500,
        ]
    ),
)
ANY = st.recursive(
    # Finite numbers only: JSON, and so the engine, cannot carry NaN or infinity.
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.just(UNKNOWN),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _maybe(draw, value):
    """The value, or an unknown, or something of the wrong type."""
    return draw(st.sampled_from([value, value, UNKNOWN, draw(ANY)]))


@st.composite
def registrations(draw) -> list[Registration]:
    out = [Registration(urn=STACK_URN, type="pulumi:pulumi:Stack", name="fuzz-prod", custom=False)]
    for i in range(draw(st.integers(min_value=1, max_value=40))):
        kind = draw(st.sampled_from(["file", "record", "zone", "component"]))
        if kind == "file":
            source = {SIG_KEY: ASSET_SIG, "text": draw(TEXTS)}
            connection = {"host": _maybe(draw, draw(st.sampled_from(["ns1.example.net", "www.example.net"])))}
            if draw(st.booleans()):
                connection = {SIG_KEY: SECRET_SIG, "value": connection}
            inputs = {
                "source": _maybe(draw, source),
                "remotePath": _maybe(draw, draw(st.sampled_from(FILE_PATHS))),
                "connection": _maybe(draw, connection),
            }
            rtype = "command:remote:CopyToRemote"
        elif kind == "record":
            inputs = {
                "name": _maybe(draw, draw(st.sampled_from(["example.net", "mail.example.net", "www"]))),
                "type": _maybe(draw, draw(st.sampled_from(["A", "MX", "TXT", "PTR", "NS", "AAAA"]))),
                "content": _maybe(
                    draw,
                    draw(st.sampled_from(["198.51.100.25", "mail.example.net", "v=spf1 +all", "v=spf1 " + "a " * 30])),
                ),
                "priority": _maybe(draw, 10),
                "zoneId": UNKNOWN,
            }
            rtype = "cloudflare:index/dnsRecord:DnsRecord"
        elif kind == "zone":
            inputs = {"name": _maybe(draw, "example.net"), "account": {"id": UNKNOWN}}
            rtype = "cloudflare:index/zone:Zone"
        else:
            inputs = {"customerPools": _maybe(draw, ["203.0.113.0/24"]), "ownNetworks": _maybe(draw, ["x"])}
            rtype = "isp:network:Gateway"
        urn = f"urn:pulumi:prod::fuzz::{rtype}::r{i}"
        out.append(
            Registration(
                urn=urn,
                type=rtype,
                name=f"r{i}",
                custom=not rtype.startswith("isp:"),
                parent=STACK_URN,
                inputs=inputs,
                outputs=dict(inputs),
                protect=draw(st.booleans()),
            )
        )
    return out


def _judge(regs: list[Registration]):
    return run_policy_packs(
        regs,
        project="fuzz",
        stack="prod",
        organization="organization",
        config={},
        secret_keys=[],
        pack_dirs=[REPO / "policies"],
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(registrations())
def test_hostile_resources_get_a_verdict_never_a_crash(regs):
    report = _judge(regs)  # a policy that raised would surface as PackError
    for violation in report.violations:
        assert violation.policy and violation.message
        # rulekit turns an exception into "could not judge/read": that is a crash in disguise.
        assert "could not judge" not in violation.message, violation.message
        assert "could not read" not in violation.message, violation.message


def test_a_huge_file_does_not_stall_the_pack():
    huge = "acl big {\n" + "".join(f"\t10.{i // 256 % 256}.{i % 256}.0/24;\n" for i in range(60000)) + "};\n"
    huge += "options { allow-recursion { big; }; allow-query { any; }; };\n"
    regs = [
        Registration(urn=STACK_URN, type="pulumi:pulumi:Stack", name="fuzz-prod", custom=False),
        Registration(
            urn="urn:pulumi:prod::fuzz::command:remote:CopyToRemote::big",
            type="command:remote:CopyToRemote",
            name="big",
            custom=True,
            parent=STACK_URN,
            inputs={
                "source": {SIG_KEY: ASSET_SIG, "text": huge},
                "remotePath": "/etc/bind/named.conf",
                "connection": {"host": "ns1.example.net"},
            },
        ),
    ]
    regs[1].outputs = dict(regs[1].inputs)
    # A stall would end in the analyzer's own call timeout as a PackError.
    report = _judge(regs)
    assert len(huge) > 1_000_000
    assert not [v for v in report.violations if v.policy == "no-open-recursion"]  # private /24s only: closed
