from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from broker import Broker  # noqa: E402


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """One real Mosquitto per test file; tests that restart a broker start their own. Per file, not per session:
    the edges' retained status messages stay in the broker, and another file's central would take them in."""
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `long` first: `make test` runs several workers a file each, and the longest files should run side
    by side from the start, not one of them alone at the end while the other workers idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
