"""Moves this interpreter's clock when PREFLIGHT_TEST_CLOCK is set (the Day 2 tests put this directory on
PYTHONPATH, so every Python process of a preflight run imports it first: the preview and the simulated
up's child alike).

time-machine patches the clock at the C level (time.time, time.gmtime, datetime.now, date.today, ...), so
whatever way a program reads the date it sees the moved one, from its first import on. Each process
appends the day it saw to PREFLIGHT_TEST_CLOCK_LOG: the test knows the clock really moved where the
program ran.
"""

import os

if os.environ.get("PREFLIGHT_TEST_CLOCK"):
    import datetime
    import json
    import sys

    try:
        import time_machine
    except ImportError:  # an interpreter without it (a policy pack's venv): its clock is not moved
        time_machine = None
    if time_machine is not None:
        time_machine.travel(os.environ["PREFLIGHT_TEST_CLOCK"], tick=True).start()
    if os.environ.get("PREFLIGHT_TEST_CLOCK_LOG"):
        with open(os.environ["PREFLIGHT_TEST_CLOCK_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"today": datetime.date.today().isoformat(), "argv": sys.orig_argv}) + "\n")
