"""engine/tokens.py: a token's lifetime is bounded (exp - iat, or exp - now without iat),
by the verifier, by the engine's gateway, and by ``livebenefits token --ttl``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import jwt
import pytest

from gateways.cli import main
from engine.settings import DEFAULT_TOKEN_MAX_TTL_S, Settings
from engine.tokens import InvalidToken, Principal, TokenVerifier, mint
from tests.conftest import JWT_SECRET
from tests.helpers import Api, in_process

DAY = 86400


def _signed(**claims: object) -> str:
    return jwt.encode({"role": "viewer", "sub": "phone:13800000000", **claims}, JWT_SECRET, algorithm="HS256")


def test_the_default_bound_is_30_days() -> None:
    assert DEFAULT_TOKEN_MAX_TTL_S == 30 * DAY
    assert Settings(redis_url="redis://x").token_max_ttl_s == 30 * DAY
    assert Settings.from_env({"REDIS_URL": "redis://x", "LIVEBENEFITS_TOKEN_MAX_TTL": "60"}).token_max_ttl_s == 60


@pytest.mark.parametrize(("issued", "expires"), [
    (-DAY, 30 * DAY),            # issued yesterday for 31 days
    (0, 30 * DAY + 60),          # issued now for a minute over 30 days
    (0, 10 * 365 * DAY),         # ten years
    (None, 31 * DAY),            # no iat: exp more than 30 days from now
], ids=["31-days", "30-days-and-a-minute", "ten-years", "no-iat"])
def test_a_token_living_longer_than_the_bound_is_refused(issued: int | None, expires: int) -> None:
    now = int(time.time())
    claims = {"exp": now + expires} if issued is None else {"iat": now + issued, "exp": now + expires}
    with pytest.raises(InvalidToken, match="lives longer"):
        TokenVerifier(JWT_SECRET).verify(_signed(**claims))


def test_tokens_within_the_bound_are_accepted() -> None:
    now = int(time.time())
    verifier = TokenVerifier(JWT_SECRET)
    assert verifier.verify(_signed(iat=now, exp=now + 30 * DAY)).sub == "phone:13800000000"
    assert verifier.verify(_signed(exp=now + 29 * DAY)).role == "viewer"
    # Issued 20 days ago for 30 days: 10 days left, fine.
    assert verifier.verify(_signed(iat=now - 20 * DAY, exp=now + 10 * DAY)).role == "viewer"
    assert verifier.verify(mint(JWT_SECRET, "viewer", "phone:13800000000", 30 * DAY)).role == "viewer"


def test_the_bound_is_the_verifiers() -> None:
    now = int(time.time())
    token = _signed(iat=now, exp=now + 3600)
    with pytest.raises(InvalidToken):
        TokenVerifier(JWT_SECRET, max_ttl_s=600).verify(token)
    assert TokenVerifier(JWT_SECRET, max_ttl_s=3600).verify(token).role == "viewer"


def test_the_verifier_and_principals_keep_secrets_out_of_repr() -> None:
    verifier = TokenVerifier(JWT_SECRET)
    principal = verifier.verify(mint(JWT_SECRET, "viewer", "phone:13800000000"))
    assert JWT_SECRET not in repr(verifier)
    assert "13800000000" not in repr(verifier) + repr(principal)
    assert isinstance(principal, Principal)


@pytest.fixture
async def short_lived_api(redis: object, settings: Settings) -> AsyncIterator[Api]:
    async with in_process(replace(settings, token_max_ttl_s=3600)) as api:
        yield api


async def test_the_engine_answers_401_to_a_token_past_its_bound(short_lived_api: Api) -> None:
    api = short_lived_api
    long_lived = mint(JWT_SECRET, "operator", "ops-1", 7200)
    r = await api.http.get("/v1/tiers", headers={"Authorization": f"Bearer {long_lived}"})
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"
    assert "lives longer" in r.json()["detail"]
    short = mint(JWT_SECRET, "operator", "ops-1", 3600)
    assert (await api.http.get("/v1/tiers", headers={"Authorization": f"Bearer {short}"})).status_code == 200


def test_livebenefits_token_refuses_a_ttl_past_the_bound(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LIVEBENEFITS_JWT_SECRET", JWT_SECRET)
    monkeypatch.delenv("LIVEBENEFITS_TOKEN_MAX_TTL", raising=False)
    assert main(["token", "--role", "viewer", "--sub", "phone:13800000000", "--ttl", str(31 * DAY)]) == 2
    assert "--ttl must be at most" in capsys.readouterr().err
    assert main(["token", "--role", "viewer", "--sub", "phone:13800000000", "--ttl", str(30 * DAY)]) == 0
    assert capsys.readouterr().out.strip()
    monkeypatch.setenv("LIVEBENEFITS_TOKEN_MAX_TTL", "60")
    assert main(["token", "--role", "viewer", "--sub", "phone:13800000000", "--ttl", "61"]) == 2
