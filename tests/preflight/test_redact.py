"""preflight.redact: which strings are secret, and their redaction."""

from __future__ import annotations

from pack_helpers import API_TOKEN

from preflight.model import Registration, secret
from preflight.redact import secret_values


def test_secret_values_hide_credentials_but_keep_addresses():
    connection = secret({"host": "192.0.2.25", "user": "root", "privateKey": "-----BEGIN KEY----- abc"})
    reg = Registration("urn:a", "t", "a", custom=True, inputs={"connection": connection, "pw": secret("s3cret-pw")})
    found = secret_values({"isp:token": API_TOKEN, "isp:domain": "example.net"}, ["isp:token"], [reg])
    assert found == {API_TOKEN, "s3cret-pw", "-----BEGIN KEY----- abc"}
