"""The pack's modules are top-level imports inside `policies/` (the CLI runs the pack with that
directory first on sys.path), so its tests put it there too. Builders live in pack_builders.py."""

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))
