"""schemathesis against the served ``/openapi.json``: no 5xx, every answer as documented.

One real engine (``livebenefits serve``, its own redis-server) serves the module. Every
operation of the document is a test of its own: schemathesis generates requests from
the operation's schema, valid ones and (negative mode) ones that break it, each with
the token of a role the operation admits (operator for operator and leader routes,
a viewer for viewer routes, a correct Standard Webhooks signature for the platform
webhook), and checks ``not_a_server_error`` and ``response_schema_conformance``.

Path parameters are drawn half the time from ids that exist (a live session, its SKU,
a member, a leader, an order), so requests get past ``404`` into the handlers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateways.openapi import OPERATIONS, Operation
from tests.conftest import NO_BUDGETS, WEBHOOK_SECRET, running_redis
from tests.helpers import LADDER, live_session, ndjson
from tests.live import LiveEngine

pytestmark = pytest.mark.slow

EXAMPLES = 25
# An event stream never ends by itself: schemathesis reads it for this long.
STREAM_READ_S = 0.5
CHECKS = [not_a_server_error, response_schema_conformance]

SESSION = "S-fuzz"
VIEWER = "phone:+8613800000001"
KNOWN = {"session_id": SESSION, "sku": "MILK-1L", "member_id": "m-fuzz", "leader_id": "L-01"}
MEMBERS = [{"member_id": "m-fuzz", "identities": [VIEWER], "growth": 5200, "points": 500, "leader_id": "L-01"}]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """The import's schema is that of one line; the body is that line."""
    return json.dumps(value).encode() + b"\n"


def _label(op: Operation) -> str:
    return f"{op.method} {op.path}"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEngine]:
    with running_redis(tmp_path_factory.mktemp("schemathesis-redis")) as url:
        with LiveEngine(url, workers=1, extra_env=NO_BUDGETS) as live:
            yield live


@pytest.fixture(scope="module")
def known(engine: LiveEngine) -> dict[str, str]:
    """Seeds a ladder, a leader, a member, a live session and one order; the ids that exist."""
    op = engine.headers("operator", "fuzz-ops")
    with httpx.Client(base_url=engine.base_url, headers=op, timeout=10) as client:
        for method, path, body in (("PUT", "/v1/tiers", LADDER), ("PUT", "/v1/leaders/L-01", {"name": "Leader"}),
                                   ("PUT", f"/v1/sessions/{SESSION}", live_session())):
            response = client.request(method, path, json=body)
            assert response.status_code == 200, response.text
        response = client.post("/v1/members/import", content=ndjson(MEMBERS),
                               headers={"Content-Type": "application/x-ndjson"})
        assert response.status_code == 200 and response.json()["rejected"] == [], response.text
        response = client.post(f"/v1/sessions/{SESSION}/orders", json={"sku": "MILK-1L", "qty": 1},
                               headers={**engine.headers("viewer", VIEWER), "Idempotency-Key": "seed-1"})
        assert response.status_code == 201, response.text
    return {**KNOWN, "order_id": response.json()["order_id"]}


@pytest.fixture(scope="module")
def schema(engine: LiveEngine, known: dict[str, str]) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(engine.base_url + "/openapi.json")

    @loaded.hook
    def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
        # Each parameter that names something seeded: the generated value or the existing id.
        if not path_parameters:
            return st.just(path_parameters)
        choices = {name: st.sampled_from([value, known[name]]) if name in known else st.just(value)
                   for name, value in path_parameters.items()}
        return st.fixed_dictionaries(choices)

    return loaded


def _headers(engine: LiveEngine, op: Operation) -> dict[str, str]:
    if "operator" in op.roles:
        return engine.headers("operator", "fuzz-ops")
    if "viewer" in op.roles:
        return engine.headers("viewer", VIEWER)
    return {}


def _signed(body: bytes, webhook_id: str) -> dict[str, str]:
    """Standard Webhooks headers for the exact bytes (not always UTF-8 in negative mode)."""
    timestamp = str(int(datetime.now(timezone.utc).timestamp()))
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


@pytest.mark.parametrize("op", OPERATIONS, ids=_label)
def test_operation_answers_as_documented(engine: LiveEngine, schema: schemathesis.BaseSchema, op: Operation) -> None:
    operation = schema[op.path][op.method]
    strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                         operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
    kwargs: dict[str, Any] = {"timeout": STREAM_READ_S} if op.answer == "sse" else {}
    calls = iter(range(10**9))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        headers = _headers(engine, op)
        extra = dict(kwargs)
        if not op.roles and case.body is not NOT_SET:
            # The platform signs the exact bytes it sends: sign what will be sent.
            # Negative mode may make the body raw bytes rather than a JSON value.
            body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
            headers = {**headers, **_signed(body, f"msg_fuzz_{next(calls)}_{id(case)}")}
            extra["data"] = body
        case.call_and_validate(base_url=engine.base_url, headers=headers, checks=CHECKS, **extra)

    run()
