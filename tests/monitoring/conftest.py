"""Fixtures of the monitoring tests: promtool, fetched once per machine (see promkit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# promkit.py sits beside the tests (importlib import mode does not add test folders to sys.path).
sys.path.insert(0, str(Path(__file__).parent))

from promkit import Promtool
from promkit import promtool as find_promtool


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    found = find_promtool()
    if found.path is None:
        pytest.skip(found.why_missing)
    return found
