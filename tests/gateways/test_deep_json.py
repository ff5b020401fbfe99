"""JSON nested a thousand or a hundred thousand deep is a 422, never a 500: in a signed
platform webhook (tolerant structs skip unknown values, which is where msgspec runs out
of depth), in any operator body, in a viewer's body, in a member import line."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from standardwebhooks import Webhook

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import Api, live_session, signed
from tests.payments.support import assert_problem

DEPTHS = [1000, 100_000]


def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _signed_raw(body: bytes) -> tuple[bytes, dict[str, str]]:
    # Signed over the exact bytes: signed() re-encodes a dict, which a deep value cannot be.
    _, headers = signed(WEBHOOK_SECRET, {})
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
    headers["webhook-signature"] = Webhook(WEBHOOK_SECRET).sign(headers["webhook-id"], sent_at, body.decode())
    return body, headers


# (name, body with {deep} where the nesting goes): webhooks.
WEBHOOK_BODIES = {
    "unknown field before type": b'{"x":{deep},"type":"live.started","data":{"session_id":"S1"}}',
    "unknown field after data": b'{"type":"live.started","data":{"session_id":"S1"},"x":{deep}}',
    "unknown field in data": b'{"type":"viewer.left","data":{"session_id":"S1","identity":"wechat:a","x":{deep}}}',
    "data first": b'{"data":{deep},"type":"live.started"}',
    "data of an unknown type": b'{"type":"no.such.type","data":{deep}}',
    "data of a known type": b'{"type":"order.paid","data":{deep}}',
    "as the identity": b'{"type":"viewer.left","data":{"session_id":"S1","identity":{deep}}}',
    "the whole body": b"{deep}",
}


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", [arrays, objects], ids=["arrays", "objects"])
@pytest.mark.parametrize("where", list(WEBHOOK_BODIES))
async def test_a_deep_signed_webhook_is_422(api: Api, where: str, shape: object, depth: int) -> None:
    body, headers = _signed_raw(WEBHOOK_BODIES[where].replace(b"{deep}", shape(depth)))  # type: ignore[operator]
    r = await api.http.post("/v1/webhooks/platform", content=body, headers=headers)
    assert_problem(r, 422, "invalid_request")


# (method, path, body with {deep}): operator and viewer routes.
def _operator_bodies() -> list[tuple[str, str, bytes]]:
    session = orjson.dumps(live_session())
    return [
        ("PUT", "/v1/tiers", b'{"tiers":{deep}}'),
        ("PUT", "/v1/tiers", b'{"x":{deep},"tiers":[]}'),
        ("PUT", "/v1/tiers", b'{"tiers":[{"name":"regular","min_growth":0,"points_multiplier":{deep}}]}'),
        ("PUT", "/v1/settings", b'{"points_per_yuan":{deep}}'),
        ("PUT", "/v1/settings", b"{deep}"),
        ("PUT", "/v1/leaders/L-01", b'{"name":"x","webhook_url":{deep}}'),
        ("PUT", "/v1/sessions/S1", session[:-1] + b',"x":{deep}}'),
        ("PUT", "/v1/sessions/S1", session.replace(b'"tier_prices":{', b'"tier_prices":{"gold":{deep},', 1)),
        ("PUT", "/v1/sessions/S1", b'{"title":"t","products":{deep}}'),
        ("POST", "/v1/sessions/S1/products/MILK-1L/stock", b'{"delta":{deep}}'),
    ]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", [arrays, objects], ids=["arrays", "objects"])
@pytest.mark.parametrize(("method", "path", "template"), _operator_bodies())
async def test_a_deep_operator_body_is_422_or_too_large(api: Api, method: str, path: str, template: bytes,
                                                        shape: object, depth: int) -> None:
    body = template.replace(b"{deep}", shape(depth))  # type: ignore[operator]
    r = await api.http.request(method, path, content=body, headers=api.operator)
    if path == "/v1/sessions/S1" or len(body) <= 16 * 1024:
        assert_problem(r, 422, "invalid_request")
    else:
        # A hundred thousand levels do not fit a small route's 16 KiB.
        assert_problem(r, 413, "payload_too_large")


@pytest.mark.parametrize("shape", [arrays, objects], ids=["arrays", "objects"])
async def test_a_deep_viewer_body_is_422(api: Api, shape: object) -> None:
    await api.setup()
    deep = shape(1000)  # type: ignore[operator]
    r = await api.http.post("/v1/sessions/S1/enter", content=b'{"leader_ref":' + deep + b"}",
                            headers=api.viewer("wechat:deep"))
    assert_problem(r, 422, "invalid_request")
    r = await api.http.post("/v1/sessions/S1/orders", content=b'{"sku":"MILK-1L","qty":1,"x":' + deep + b"}",
                            headers={**api.viewer("wechat:deep"), "Idempotency-Key": "k-deep"})
    assert_problem(r, 422, "invalid_request")


@pytest.mark.parametrize("depth", DEPTHS)
async def test_a_deep_import_line_is_rejected_alone(api: Api, depth: int) -> None:
    await api.setup()
    body = (b'{"member_id":"m-1","identities":["wechat:a1"]}\n'
            + b'{"member_id":"m-2","identities":' + arrays(depth) + b"}\n"
            + b'{"member_id":"m-3","x":' + objects(depth) + b"}\n"
            + b'{"member_id":"m-4","identities":["wechat:a4"]}\n')
    r = await api.http.post("/v1/members/import", content=body, headers=api.operator)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 2
    assert [rejection["line"] for rejection in report["rejected"]] == [2, 3]
