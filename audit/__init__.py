"""`python -m audit --stack S`: the live network checked against the lessons, from outside, read-only.

From the stack config it knows what should be (expect.py); it asks the stack's own public addresses,
with bounded timeouts (net.py, resolver.py); each check (checks/) gives PASS, WARN or FAIL with its
evidence (model.py); the report goes out as a table, JSON, SARIF or JUnit, with what changed since a
baseline (report.py). Nothing is changed and no mail is sent unless asked (`--send-test-mail`).
"""
