from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.settings import Settings
from tests.helpers import Api, in_process


@pytest.fixture
async def api(redis, settings: Settings) -> AsyncIterator[Api]:
    async with in_process(settings) as client:
        yield client
