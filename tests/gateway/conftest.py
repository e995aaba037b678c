"""The gateway tests' fixtures; the services' helpers (tests/services) are imported by bare name, as there."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from http_support import bus, gateway, sealing_keys

__all__ = ["bus", "gateway", "sealing_keys"]
