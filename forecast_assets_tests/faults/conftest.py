"""The concurrency, race and kill tests are the stress loop's (``make stress``: ``pytest -m stress``).

They are the tests whose outcome could depend on timing: two runs at once, setup races, killed runs,
a brand-new instance opened by several processes, landings killed mid-write, worse reruns. The other
fault tests feed fixed bad input and are deterministic by construction.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent
STRESS_MODULES = {
    "test_concurrency.py",
    "test_setup_races.py",
    "test_killed_runs.py",
    "test_instance_first_use.py",
    "test_staging_faults.py",
    "test_worse_rerun.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.fspath)
        if path.parent == _HERE and path.name in STRESS_MODULES:
            item.add_marker(pytest.mark.stress)
