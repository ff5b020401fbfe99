"""/openapi.json: a valid OpenAPI 3.1 document that matches the routes served and the answers given."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import Route

from engine.settings import Settings
from engine.types import ID_PATTERN
from gateways.app import build_app
from gateways.openapi import document
from tests.helpers import Api, auth

GOLD = {"member_id": "m-gold", "identities": ["phone:13800000001"], "growth": 5200, "points": 500,
        "leader_id": "L-01"}
METHODS = ("get", "put", "post", "delete", "patch")


def served_v1() -> set[tuple[str, str]]:
    app = build_app(Settings(redis_url="redis://unused.invalid:6379"), background=False)
    return {(method, route.path) for route in app.routes if isinstance(route, Route)
            and route.path.startswith("/v1/") for method in route.methods or () if method != "HEAD"}


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document()["paths"].items() for method in item
            if method in METHODS}


def check(method: str, template: str, response: httpx.Response) -> None:
    """The answer's status is documented for the operation, and its body fits that schema."""
    op = document()["paths"][template][method.lower()]
    answer = op["responses"].get(str(response.status_code))
    assert answer is not None, f"{method} {template} answered undocumented {response.status_code}: {response.text}"
    if "content" not in answer:
        assert response.content == b"", response.text
        return
    media = response.headers["content-type"].split(";")[0]
    schema = answer["content"][media]["schema"]
    # The document's components sit beside the schema so its "#/components/..." refs resolve.
    jsonschema.Draft202012Validator({**schema, "components": document()["components"]}).validate(response.json())


def test_document_is_openapi_3_1() -> None:
    validate(document(), cls=OpenAPIV31SpecValidator)
    assert document()["openapi"].startswith("3.1")


def test_every_v1_route_and_nothing_else() -> None:
    served = served_v1()
    assert served, "the app serves no /v1 routes?"
    assert documented() - served == set(), "documented but not served"
    assert served - documented() == set(), "served but not documented"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [r for v in node.values()
                                                                                for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_bodies_refer_to_component_schemas_that_exist() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            media: list[tuple[str, dict[str, Any]]] = list(op.get("requestBody", {}).get("content", {}).items())
            for response in op["responses"].values():
                media += list(response.get("content", {}).items())
            for kind, content in media:
                refs = _refs(content)
                assert refs, f"{method} {path} {kind}: no component schema"
                for ref in refs:
                    assert ref.startswith("#/components/schemas/"), ref
                    assert ref.rsplit("/", 1)[1] in schemas, f"{method} {path}: {ref} missing"
    for name, schema in schemas.items():
        for ref in _refs(schema):
            assert ref.rsplit("/", 1)[1] in schemas, f"{name}: {ref} missing"


def test_contract_details() -> None:
    doc = document()
    paths = doc["paths"]
    order = paths["/v1/sessions/{session_id}/orders"]["post"]
    assert {p["name"] for p in order["parameters"]} == {"session_id", "Idempotency-Key"}
    assert set(order["responses"]) >= {"201", "400", "401", "403", "404", "409", "422"}
    assert "sold_out" in order["responses"]["409"]["content"]["application/problem+json"]["schema"]["allOf"][1][
        "properties"]["code"]["enum"]
    imports = paths["/v1/members/import"]["post"]["requestBody"]["content"]
    assert imports == {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/MemberLine"}}}
    hook = paths["/v1/webhooks/platform"]["post"]
    assert "204" in hook["responses"] and "content" not in hook["responses"]["204"]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {p["name"] for p in hook["parameters"]}
    assert hook["security"] == []
    event = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/PlatformEvent", **doc})
    assert event.is_valid({"type": "order.paid", "data": {"order_id": "o-1", "amount": 5980, "new_field": 1}})
    assert not event.is_valid({"type": "order.paid", "data": {"order_id": "o-1"}})
    for stream in ("/v1/sessions/{session_id}/stats/stream", "/v1/leaders/{leader_id}/orders/stream"):
        assert list(paths[stream]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    for item in paths.values():
        for op in item.values():
            for p in op["parameters"]:
                if p["in"] == "path":
                    assert p["schema"]["pattern"] == ID_PATTERN
    assert doc["components"]["securitySchemes"]["bearer"]["bearerFormat"] == "JWT"


async def test_served_as_json(api: Api) -> None:
    r = await api.http.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == document()


async def test_real_answers_fit_their_schemas(api: Api) -> None:
    op = api.operator
    await api.setup(members=[GOLD])
    check("GET", "/v1/tiers", await api.http.get("/v1/tiers", headers=op))
    check("GET", "/v1/settings", await api.http.get("/v1/settings", headers=op))
    check("PUT", "/v1/leaders/{leader_id}",
          await api.http.put("/v1/leaders/L-03", json={"name": "L3", "commission_rate": 0.05}, headers=op))
    check("POST", "/v1/members/import", await api.http.post(
        "/v1/members/import", content=b'{"member_id": "m-2"}\nnot json\n', headers=op))
    check("GET", "/v1/members/{member_id}", await api.http.get("/v1/members/m-gold", headers=op))
    check("GET", "/v1/sessions/{session_id}", await api.http.get("/v1/sessions/S1", headers=op))
    check("POST", "/v1/sessions/{session_id}/products/{sku}/stock",
          await api.http.post("/v1/sessions/S1/products/MILK-1L/stock", json={"delta": 5}, headers=op))

    gold = "phone:13800000001"
    entered = await api.enter(gold, leader_ref="L-02")
    check("POST", "/v1/sessions/{session_id}/enter", entered)
    check("POST", "/v1/sessions/{session_id}/enter", await api.enter("wechat:guest-1"))
    check("GET", "/v1/sessions/{session_id}/products",
          await api.http.get("/v1/sessions/S1/products", headers=api.viewer(gold)))
    coupon = next(c["coupon_id"] for c in entered.json()["coupons"] if c["template_id"] == "gold-10")
    placed = await api.order(gold, "k1", sku="MILK-1L", qty=2, coupon_id=coupon, points=100)
    check("POST", "/v1/sessions/{session_id}/orders", placed)
    check("POST", "/v1/sessions/{session_id}/orders", await api.order(gold, "k1", sku="MILK-1L", qty=2,
                                                                     coupon_id=coupon, points=100))
    check("POST", "/v1/sessions/{session_id}/orders", await api.order(gold, "k2", sku="MILK-1L", qty=5))
    check("POST", "/v1/sessions/{session_id}/orders", await api.order(gold, "k3", sku="CHEESE-LTD", qty=1))
    check("POST", "/v1/sessions/{session_id}/orders", await api.order(gold, "k4", sku="MILK-1L", qty=0))
    guest = "wechat:guest-1"
    other = await api.order(guest, "k5", sku="MILK-1L", qty=1)
    check("POST", "/v1/sessions/{session_id}/orders", other)
    cancel = f"/v1/orders/{other.json()['order_id']}/cancel"
    check("POST", "/v1/orders/{order_id}/cancel", await api.http.post(cancel, headers=api.viewer(guest)))
    check("POST", "/v1/orders/{order_id}/cancel", await api.http.post(cancel, headers=api.viewer(guest)))
    check("GET", "/v1/me", await api.http.get("/v1/me", headers=api.viewer(gold)))
    check("GET", "/v1/me", await api.http.get("/v1/me", headers=api.viewer("wechat:nobody")))
    check("GET", "/v1/me/orders", await api.http.get("/v1/me/orders", headers=api.viewer(gold)))

    paid = await api.pay(placed.json())
    check("POST", "/v1/webhooks/platform", paid)
    mismatch = await api.webhook("order.paid", order_id=other.json()["order_id"], amount=1)
    assert mismatch.json()["code"] == "amount_mismatch"
    check("POST", "/v1/webhooks/platform", mismatch)
    leader = auth(api.secret, "leader", "L-01")
    check("GET", "/v1/leaders/{leader_id}/orders", await api.http.get("/v1/leaders/L-01/orders", headers=leader))
    check("GET", "/v1/leaders/{leader_id}/orders", await api.http.get("/v1/leaders/L-02/orders", headers=leader))
    check("POST", "/v1/leaders/{leader_id}/orders/{order_id}/fulfil",
          await api.http.post(f"/v1/leaders/L-01/orders/{placed.json()['order_id']}/fulfil", headers=leader))
    check("GET", "/v1/sessions/{session_id}/stats", await api.http.get("/v1/sessions/S1/stats", headers=op))
    check("POST", "/v1/sessions/{session_id}/end", await api.http.post("/v1/sessions/S1/end", headers=op))
    check("GET", "/v1/sessions/{session_id}", await api.http.get("/v1/sessions/nope", headers=op))
    check("GET", "/v1/members/{member_id}", await api.http.get("/v1/members/bad id!", headers=op))
    check("GET", "/v1/me", await api.http.get("/v1/me"))
