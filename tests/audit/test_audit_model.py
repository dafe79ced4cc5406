"""The audit's model: `each_at_once`, which lets a check wait on all its targets together."""

from __future__ import annotations

import threading

import pytest

from audit.model import each_at_once


def test_every_probe_runs_at_the_same_time_and_results_keep_their_order():
    # Each probe waits until all three have started: run one after another, the first would never get past.
    everyone = threading.Barrier(3, timeout=10)

    def probe(value: str):
        def run() -> str:
            everyone.wait()
            return value
        return run

    assert list(each_at_once([probe("a"), probe("b"), probe("c")])) == ["a", "b", "c"]


def test_a_failing_probe_raises_in_order_after_the_results_before_it():
    def boom() -> str:
        raise RuntimeError("no route")

    results = each_at_once([lambda: "first", boom, lambda: "never seen"])
    assert next(results) == "first"
    with pytest.raises(RuntimeError, match="no route"):
        next(results)


def test_no_probes_no_results():
    assert list(each_at_once([])) == []
