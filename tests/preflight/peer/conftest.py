"""The peer suite's one shared fixture: every selected upstream scenario run once, all started together."""

from __future__ import annotations

import os

import pytest
from peer_helpers import PeerRuns, Scenario


@pytest.fixture(scope="session")
def peer_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    # Each run waits mostly on its pack process; a few per core keep the suite short.
    selected = [item.callspec.params["scenario"] for item in request.session.items
                if isinstance(getattr(getattr(item, "callspec", None), "params", {}).get("scenario"), Scenario)]
    runs = PeerRuns(tmp_path_factory.mktemp("peer"), selected, workers=2 * (os.cpu_count() or 1))
    yield runs
    runs.close()
