"""`python -m preflight ...` (see preflight/cli.py)."""

import sys

from preflight.cli import main

sys.exit(main())
