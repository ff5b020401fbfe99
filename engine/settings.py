"""Process configuration, read once from the environment into a typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# A bearer token may live at most this long (exp - iat): a leaked one stops working.
DEFAULT_TOKEN_MAX_TTL_S = 30 * 86400
# Growth watching and sharing may add per member per day: ten hours of watching at the
# program's default 10 per half hour, with a few shares.
DEFAULT_DAILY_ACTIVITY_GROWTH_CAP = 200


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def token_max_ttl_s(env: Mapping[str, str]) -> float:
    """The longest a token may live, from ``LIVEBENEFITS_TOKEN_MAX_TTL`` (seconds)."""
    value = float(env.get("LIVEBENEFITS_TOKEN_MAX_TTL", DEFAULT_TOKEN_MAX_TTL_S))
    if value <= 0:
        raise ValueError("LIVEBENEFITS_TOKEN_MAX_TTL must be a positive number of seconds")
    return value


def _non_negative(env: Mapping[str, str], name: str, default: int) -> int:
    value = int(env.get(name, str(default)))
    if value < 0:
        raise ValueError(f"{name} must be 0 (no cap) or more")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = int(env.get(name, str(default)))
    if value < 1:
        raise ValueError(f"{name} must be 1 or more")
    return value
def brand_webhook_url(env: Mapping[str, str]) -> str:
    """``LIVEBENEFITS_BRAND_WEBHOOK_URL``: an http(s) URL, or "" for none."""
    url = env.get("LIVEBENEFITS_BRAND_WEBHOOK_URL", "").strip()
    if url and not (url.startswith(("http://", "https://")) and len(url) <= 2000):
        raise ValueError("LIVEBENEFITS_BRAND_WEBHOOK_URL must be an http:// or https:// URL (at most 2000 characters)")
    return url


@dataclass(frozen=True, slots=True)
class Settings:
    # Secrets (the URL may carry a password) stay out of repr: uvicorn logs the ASGI
    # scope, lifespan state and all, at its trace level.
    redis_url: str = field(repr=False)
    redis_cluster: bool = False
    jwt_secret: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    # How often each process looks for reservations past pay_before.
    sweep_interval_s: float = 0.5
    # Cached ladder, program settings and session definitions are re-read this often,
    # so an operator's change reaches every worker within this time.
    config_ttl_s: float = 1.0
    # How long an ended session's live state (roster, coupons, counters, its orders) is
    # kept; its final stats stay in the archive after that (engine/retention.py).
    session_retention_s: float = 7 * 86400
    # A script call that Redis has not answered by then fails (503 and Retry-After at the
    # edge): a frozen Redis answers fast instead of holding every request.
    script_timeout_s: float = 2.0
    # Server-sent event streams (leader orders, session stats) each process serves at
    # once: per bearer token, and in all. More are refused with 429 too_many_streams.
    streams_per_token: int = 8
    streams_per_process: int = 1000
    # A bearer token Prometheus may scrape /metrics with, besides an operator JWT ("": none).
    metrics_token: str = field(default="", repr=False)
    # Tokens whose exp is further than this from their iat (or from now) are refused.
    token_max_ttl_s: float = DEFAULT_TOKEN_MAX_TTL_S
    # Leader webhooks (engine/leader_delivery.py, gateways/leader_webhooks.py): each attempt, from connecting to the answer,
    # ends within the deadline; each process delivers to at most this many leaders at once.
    webhook_deadline_s: float = 5.0
    webhook_concurrency: int = 64
    # Budgets of attempts (token buckets: per second, burst; 0 per second = none). Per
    # viewer per session, exact across every process (kept in the session's roster):
    order_rate: int = 5
    order_burst: int = 20
    entry_rate: int = 2
    entry_burst: int = 10
    # ... and for a viewer's questions to the host (engine/questions.py).
    question_rate: int = 1
    question_burst: int = 3
    # ... and per client address, coarse: each process counts its own
    # (gateways/address_budget.py).
    ip_rate: int = 2000
    ip_burst: int = 4000
    # The most growth watching and sharing may add to one member in one day (the day
    # in the session's own UTC offset); 0 = no cap. Purchases are never capped.
    daily_activity_growth_cap: int = DEFAULT_DAILY_ACTIVITY_GROWTH_CAP
    # Opt-in: every script write waits (WAIT) until this many replicas of its master have
    # it, at most wait_timeout_ms; fewer in time is a 503, so an acknowledged write is
    # on a replica too. 0: replication stays asynchronous (README, "Deploying past one machine").
    wait_replicas: int = 0
    wait_timeout_ms: int = 1000
    # The brand's endpoint for member.enrolled (engine/welcome.py; "": no events), and
    # the Standard Webhooks secret it is signed with ("": the leader webhook secret).
    brand_webhook_url: str = ""
    brand_webhook_secret: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        redis_url = env.get("LIVEBENEFITS_REDIS_URL") or env.get("REDIS_URL") or ""
        if not redis_url:
            raise RuntimeError("no Redis: set REDIS_URL (livebenefits serve sets it for its workers)")
        return cls(
            redis_url=redis_url,
            redis_cluster=_flag(env.get("LIVEBENEFITS_REDIS_CLUSTER")),
            jwt_secret=env.get("LIVEBENEFITS_JWT_SECRET", ""),
            webhook_secret=env.get("LIVEBENEFITS_WEBHOOK_SECRET", ""),
            sweep_interval_s=float(env.get("LIVEBENEFITS_SWEEP_INTERVAL", "0.5")),
            config_ttl_s=float(env.get("LIVEBENEFITS_CONFIG_TTL", "1.0")),
            session_retention_s=float(env.get("LIVEBENEFITS_SESSION_RETENTION_DAYS", "7")) * 86400,
            script_timeout_s=float(env.get("LIVEBENEFITS_REDIS_TIMEOUT", "2.0")),
            streams_per_token=int(env.get("LIVEBENEFITS_STREAMS_PER_TOKEN", "8")),
            streams_per_process=int(env.get("LIVEBENEFITS_STREAMS_PER_PROCESS", "1000")),
            metrics_token=env.get("LIVEBENEFITS_METRICS_TOKEN", "").strip(),
            token_max_ttl_s=token_max_ttl_s(env),
            webhook_deadline_s=float(env.get("LIVEBENEFITS_WEBHOOK_DEADLINE", "5")),
            webhook_concurrency=int(env.get("LIVEBENEFITS_WEBHOOK_CONCURRENCY", "64")),
            order_rate=int(env.get("LIVEBENEFITS_ORDER_RATE", "5")),
            order_burst=int(env.get("LIVEBENEFITS_ORDER_BURST", "20")),
            entry_rate=int(env.get("LIVEBENEFITS_ENTRY_RATE", "2")),
            entry_burst=int(env.get("LIVEBENEFITS_ENTRY_BURST", "10")),
            question_rate=int(env.get("LIVEBENEFITS_QUESTION_RATE", "1")),
            question_burst=int(env.get("LIVEBENEFITS_QUESTION_BURST", "3")),
            ip_rate=int(env.get("LIVEBENEFITS_IP_RATE", "2000")),
            ip_burst=int(env.get("LIVEBENEFITS_IP_BURST", "4000")),
            daily_activity_growth_cap=_non_negative(env, "LIVEBENEFITS_DAILY_ACTIVITY_GROWTH_CAP",
                                                   DEFAULT_DAILY_ACTIVITY_GROWTH_CAP),
            wait_replicas=_non_negative(env, "LIVEBENEFITS_WAIT_REPLICAS", 0),
            wait_timeout_ms=_positive(env, "LIVEBENEFITS_WAIT_TIMEOUT_MS", 1000),
            brand_webhook_url=brand_webhook_url(env),
            brand_webhook_secret=env.get("LIVEBENEFITS_BRAND_WEBHOOK_SECRET", "").strip(),
        )
