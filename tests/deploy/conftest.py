"""Past one machine: engine instances (``livebenefits serve`` processes) on a cluster of their own.

These tests start their clusters and engines themselves, whatever
``LIVEBENEFITS_TEST_CLUSTER`` says: what they prove needs a cluster, and an engine of
another folder on the same cluster would sweep and deliver too.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]
