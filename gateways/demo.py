"""``serve --demo``: once the server is ready, load the demo through the public API and print a tour.

The demo goes through HTTP with an operator token, like any operator would, so it
exercises the same validation and scripts as real traffic, and works the same with
any number of workers. It runs in a background thread because ``uvicorn.run`` blocks.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import httpx

from . import demo_data
from .secrets_env import Secrets, secrets_path
from engine.tokens import mint

_READY_TIMEOUT_S = 120.0
TOKEN_TTL_S = 24 * 3600


class DemoLoadError(Exception):
    pass


def secrets_banner(secrets: Secrets, data_dir: str | os.PathLike[str], *, generated: bool) -> str:
    how = "generated" if generated else "reused"
    return (f"\n# Demo secrets ({how}; kept in {secrets_path(data_dir)} for the next --demo start):\n"
            f"export LIVEBENEFITS_JWT_SECRET={secrets.jwt}\n"
            f"export LIVEBENEFITS_WEBHOOK_SECRET={secrets.webhook}\n")


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise DemoLoadError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


def wait_ready(client: httpx.Client, stop: threading.Event, timeout: float = _READY_TIMEOUT_S) -> bool:
    """True once GET /readyz answers 200; False if the server stops or never gets ready."""
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return True
        except httpx.HTTPError:
            pass  # Not listening yet.
        stop.wait(0.2)
    return False


def load(client: httpx.Client) -> None:
    """PUT the ladder, leaders and session, import the members. Every call is an upsert."""
    _check(client.put("/v1/tiers", json=demo_data.TIERS), "PUT /v1/tiers")
    for leader_id, leader in demo_data.LEADERS.items():
        _check(client.put(f"/v1/leaders/{leader_id}", json=leader), f"PUT /v1/leaders/{leader_id}")
    response = client.post("/v1/members/import", content=demo_data.members_ndjson(),
                           headers={"Content-Type": "application/x-ndjson"})
    _check(response, "POST /v1/members/import")
    rejected = response.json().get("rejected") or []
    if rejected:
        raise DemoLoadError(f"POST /v1/members/import rejected {len(rejected)} line(s), first: {rejected[0]}")
    session_path = f"/v1/sessions/{demo_data.SESSION_ID}"
    _check(client.put(session_path, json=demo_data.session()), f"PUT {session_path}")
    members_day_path = f"/v1/sessions/{demo_data.MEMBERS_DAY_ID}"
    _check(client.put(members_day_path, json=demo_data.members_day()), f"PUT {members_day_path}")


def tour(base_url: str, jwt_secret: str) -> str:
    """Shell lines to paste: exports with real tokens, then the tour's curl commands."""
    gold = mint(jwt_secret, "viewer", demo_data.TOUR_PHONE, TOKEN_TTL_S)
    guest = mint(jwt_secret, "viewer", demo_data.GUEST_PHONE, TOKEN_TTL_S)
    operator = mint(jwt_secret, "operator", "demo-operator", TOKEN_TTL_S)
    leader = mint(jwt_secret, "leader", demo_data.TOUR_LEADER, TOKEN_TTL_S)
    host = mint(jwt_secret, "host", "demo-host", TOKEN_TTL_S)
    s = f"$LB/v1/sessions/{demo_data.SESSION_ID}"
    md = f"$LB/v1/sessions/{demo_data.MEMBERS_DAY_ID}"
    auth = '-H "Authorization: Bearer'
    pick_coupon = ("python3 -c 'import json,sys; cs=json.load(sys.stdin).get(\"coupons\") or []; "
                   "print(json.dumps(next((c[\"coupon_id\"] for c in cs if c[\"template_id\"]==\"gold-10\" "
                   "and c[\"status\"]==\"available\"), None)))'")
    pick_order = "python3 -c 'import json,sys; print(json.load(sys.stdin).get(\"order_id\", \"\"))'"
    # order.paid's data: the order's id and the amount it is due.
    pick_payment = ("python3 -c 'import json,sys; o=json.load(sys.stdin); "
                    "print(json.dumps({\"order_id\": o.get(\"order_id\"), \"amount\": o.get(\"amount_due\")}))'")
    return f"""
# ---- livebenefits demo is loaded: 4 tiers, 3 leaders, {demo_data.MEMBER_COUNT} members, live sessions {demo_data.SESSION_ID} and {demo_data.MEMBERS_DAY_ID}
# Tokens are valid for 24 h. Paste these into a shell (bash or zsh):
export LB={base_url}
export GOLD={gold}
export GUEST={guest}
export OPERATOR={operator}
export LEADER={leader}
export HOST={host}

# 1. Enter the live room as gold member {demo_data.TOUR_MEMBER} ({demo_data.TOUR_PHONE}): tier prices, the
#    members-only cheese, and coupons issued once. COUPON keeps the gold-10 coupon's id.
COUPON=$(curl -s -X POST {s}/enter {auth} $GOLD" | tee /dev/stderr | {pick_coupon}); echo; echo "COUPON=$COUPON"

# 2. The same room's products as gold and as a guest: other prices, no cheese for the guest.
#    Gold's session-wide 85 % (tier_discounts, 金卡会员全场85折) prices the cheese and the flash
#    milk; MILK-1L keeps its own gold price (a product's tier price wins).
curl -s {s}/products {auth} $GOLD"; echo
curl -s {s}/products {auth} $GUEST"; echo

# 3. Order 2 x MILK-1L with the coupon and 200 points (subtotal 7180 - 1000 - 200 = 5980 due).
KEY=tour-$(date +%s)
ORDER=$(curl -s -X POST {s}/orders {auth} $GOLD" -H "Idempotency-Key: $KEY" -H "Content-Type: application/json" -d '{{"sku": "MILK-1L", "qty": 2, "coupon_id": '"$COUPON"', "points": 200}}' | tee /dev/stderr | {pick_order}); echo; echo "ORDER=$ORDER"
#    Same key, same body: the same answer, nothing reserved twice.
curl -s -X POST {s}/orders {auth} $GOLD" -H "Idempotency-Key: $KEY" -H "Content-Type: application/json" -d '{{"sku": "MILK-1L", "qty": 2, "coupon_id": '"$COUPON"', "points": 200}}'; echo

# 4. The member's balance, coupons and orders.
curl -s $LB/v1/me {auth} $GOLD"; echo
curl -s $LB/v1/me/orders {auth} $GOLD"; echo

# 5. Cancel: stock, coupon and points come back.
curl -s -X POST $LB/v1/orders/$ORDER/cancel {auth} $GOLD"; echo
curl -s $LB/v1/me {auth} $GOLD"; echo

# 6. A new order, paid as the platform pays it: a signed order.paid webhook. The member
#    earns points (x tier x session multipliers) and the order goes to its leader.
PAID=$(curl -s -X POST {s}/orders {auth} $GOLD" -H "Idempotency-Key: $KEY-paid" -H "Content-Type: application/json" -d '{{"sku": "MILK-1L", "qty": 1}}' | tee /dev/stderr | {pick_payment}); echo; echo "PAID=$PAID"
.venv/bin/livebenefits webhook order.paid --data "$PAID"
curl -s $LB/v1/me {auth} $GOLD"; echo

# 7. The operator's view: the session with stock_left, and live stats by tier.
curl -s {s} {auth} $OPERATOR"; echo
curl -s {s}/stats {auth} $OPERATOR"; echo

# 8. Leader {demo_data.TOUR_LEADER}'s routed (paid) orders: the one just paid.
curl -s $LB/v1/leaders/{demo_data.TOUR_LEADER}/orders {auth} $LEADER"; echo

# 9. The host's screen: the gold member asks a question; the host reads the open questions
#    (highest tier first, names masked) and the VIP roll (black diamond members in the room).
curl -s -X POST {s}/questions {auth} $GOLD" -H "Content-Type: application/json" -d '{{"text": "Does the cheese keep a week?"}}'; echo
curl -s "{s}/questions?state=open" {auth} $HOST"; echo
curl -s {s}/host/vips {auth} $HOST"; echo

# 10. A members-only room (会员日, min_tier gold): a guest is told why (min_tier and, per product,
#     "unavailable": "members_only") and refused entry (403 members_only); the gold member enters,
#     85 % off everything. Black diamond's GIFT-BOX is priced 0 (0元秒杀), paid by an order.paid of 0.
curl -s {md}/products {auth} $GUEST"; echo
curl -s -X POST {md}/enter {auth} $GUEST"; echo
curl -s -X POST {md}/enter {auth} $GOLD"; echo

# More tokens: livebenefits token --role viewer --sub phone:+8613800000002 --ttl 86400
# Other platform events: livebenefits webhook viewer.watched --data '{{"session_id": "{demo_data.SESSION_ID}", ...}}'
# (both read their secret from the environment, else from ./var/secrets.env; pass --data-dir otherwise)
"""


def _run(base_url: str, jwt_secret: str, stop: threading.Event) -> None:
    operator = mint(jwt_secret, "operator", "demo-loader", 600)
    with httpx.Client(base_url=base_url, timeout=60.0,
                      headers={"Authorization": f"Bearer {operator}"}) as client:
        if not wait_ready(client, stop):
            if not stop.is_set():
                print(f"livebenefits: demo not loaded: {base_url}/readyz did not answer 200 "
                      f"within {_READY_TIMEOUT_S:.0f}s", file=sys.stderr, flush=True)
            return
        try:
            load(client)
        except (DemoLoadError, httpx.HTTPError, ValueError) as exc:
            print(f"livebenefits: demo not loaded: {exc}", file=sys.stderr, flush=True)
            return
    print(tour(base_url, jwt_secret), flush=True)


def start_loader(base_url: str, jwt_secret: str, stop: threading.Event) -> threading.Thread:
    """Load the demo once the server is ready, from a daemon thread that never blocks exit."""
    thread = threading.Thread(target=_run, args=(base_url, jwt_secret, stop), name="livebenefits-demo",
                              daemon=True)
    thread.start()
    return thread
