"""A rule that cannot judge says why, without quoting a secret the input held (kit.scrubbed).

Under the CLI the pack sees secrets decrypted; an exception raised on a file's text can quote it.
"""

from __future__ import annotations

from rules import kit as rulekit

KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
TOKEN = "Zq3xY7Kp1mN8vB2cL5tR9wE4uI6oA0sD_fGhJkLz"


def _choking(text: str):
    def rule(subject, config):
        raise ValueError(f"cannot parse {text!r} in /etc/app/app.conf on 2001:db8::53")
        yield  # a generator, as rules are

    return rule


def test_an_exception_quoting_a_key_or_token_becomes_a_scrubbed_finding():
    for secret in (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----", TOKEN,
                   f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}"):
        verdict = rulekit.judge(_choking(secret), None, {}, "some-policy")
        (finding,) = verdict.findings
        assert "some-policy could not judge this input (ValueError: cannot parse" in finding.message
        assert KEY_BODY not in finding.message and TOKEN not in finding.message and "[redacted: " in finding.message
        assert "/etc/app/app.conf" in finding.message and "2001:db8::53" in finding.message  # where, kept
        assert "\n" not in finding.message


def test_plain_text_is_kept():
    text = "mail.example.net dialupMessageSizeLimitMb https://www.rfc-editor.org/rfc/rfc7208 203.0.113.0/24"
    assert rulekit.scrubbed(text) == text
