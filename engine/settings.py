"""Process configuration, read once from the environment into a typed object."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str
    redis_cluster: bool = False
    jwt_secret: str = ""
    webhook_secret: str = ""
    # How often each process looks for reservations past pay_before.
    sweep_interval_s: float = 0.5
    # Cached ladder, program settings and session definitions are re-read this often,
    # so an operator's change reaches every worker within this time.
    config_ttl_s: float = 1.0
    # How long an ended session's live state (roster, coupons, counters, its orders) is
    # kept; its final stats stay in the archive after that (engine/retention.py).
    session_retention_s: float = 7 * 86400

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
        )
