"""Identities: one person is one key, whatever digits the phone was typed with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.identity import InvalidIdentity, normalise
from engine.settings import Settings
from tests.helpers import Api, in_process


@pytest.fixture
async def api(redis: Any, settings: Settings) -> AsyncIterator[Api]:
    async with in_process(settings) as client:
        yield client


@pytest.mark.parametrize("typed", [
    "phone:13800000001", "phone:1３800000001", "phone:１３８０００００００１", "phone:＋８６ １３８-0000-0001",
    "phone:٨٦13800000001", "phone:+86 138 0000 0001", "phone:008613800000001", "phone:१३८०००००००१",
])
def test_every_way_of_typing_a_phone_is_one_identity(typed: str) -> None:
    assert normalise(typed) == "phone:+8613800000001"


@pytest.mark.parametrize("typed", ["phone:+٣", "phone:12", "phone:１２", "phone:abc", "phone:+0123456789"])
def test_what_is_not_a_phone_is_refused(typed: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise(typed)


async def test_a_full_width_phone_token_is_the_same_member(api: Api, redis: Any) -> None:
    await api.setup(members=[{"member_id": "m-1", "identities": ["phone:13800000001"], "growth": 5200}])
    entered = (await api.enter("phone:1３800000001")).json()
    assert (entered["member_id"], entered["tier"]) == ("m-1", "gold")
    # One member, one limit: two units each way, and the third is over the limit of 2.
    assert (await api.order("phone:13800000001", "k1", sku="MILK-1L", qty=2)).status_code == 201
    r = await api.order("phone:１３８０００００００１", "k2", sku="MILK-1L", qty=1)
    assert r.status_code == 409 and r.json()["code"] == "limit_exceeded"
