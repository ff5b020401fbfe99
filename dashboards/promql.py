"""PromQL for the livebenefits dashboards, written once for every panel.

Counters are per worker but ``/metrics`` adds the workers up, so one scrape answers
for an instance; across instances we ``sum``. Gauges (viewers online, stock left) are
read from Redis at scrape time and every instance reports the same value, so we take
``max`` across instances first and only then add up sessions.
"""

from __future__ import annotations

# Every series with a session label is filtered by the $session variable; its "All"
# value is ".*", so the same regex matcher works for one session, several or all.
SESSION = 'session=~"$session"'


def _selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def per_minute(counter: str, by: tuple[str, ...], *matchers: str, scale: str = "") -> str:
    """``sum by (...) (rate(counter{...}[$__rate_interval])) * 60``: events per minute."""
    return f"sum by ({', '.join(by)}) (rate({_selector(counter, *matchers)}[$__rate_interval])) * 60{scale}"


def in_range(counter: str, *matchers: str, scale: str = "") -> str:
    """The total over the dashboard's time range, all instances added up."""
    return f"sum(increase({_selector(counter, *matchers)}[$__range])){scale}"


def shared_gauge(gauge: str, by: tuple[str, ...], *matchers: str) -> str:
    """A gauge every instance reports alike: ``max`` per (session, ...) across instances, then sum."""
    if "session" in by:
        return f"max by ({', '.join(by)}) ({_selector(gauge, *matchers)})"
    inner = f"max by ({', '.join(('session', *by))}) ({_selector(gauge, *matchers)})"
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def shared_per_minute(counter: str, by: tuple[str, ...], *matchers: str, scale: str = "") -> str:
    """Per minute of a counter every instance reports alike (read from Redis): the rate of
    each series, ``max`` across instances, then summed ``by``."""
    series = ", ".join(dict.fromkeys(("session", *by, "kind")))
    inner = f"max by ({series}) (rate({_selector(counter, *matchers)}[$__rate_interval]))"
    return f"sum by ({', '.join(by)}) ({inner}) * 60{scale}"


def ratio(part: str, whole: str) -> str:
    """One expression divided by another, series matched on their labels."""
    return f"({part}) / ({whole})"


def quantile(q: float, buckets: str, by: tuple[str, ...], *matchers: str) -> str:
    """``histogram_quantile`` over the buckets of all instances."""
    labels = ", ".join(("le", *by))
    return f"histogram_quantile({q}, sum by ({labels}) (rate({_selector(buckets, *matchers)}[$__rate_interval])))"
