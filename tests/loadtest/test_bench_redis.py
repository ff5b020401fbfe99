"""The bench's per-script profile (loadtest/bench/redis_stats.py) against the real server."""

from __future__ import annotations

import redis

from loadtest.bench.redis_stats import script_costs, server_label, slowlog_everything

# Two commands of its own per call.
SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"


def test_each_script_call_gets_the_commands_it_ran_and_no_others(redis_url: str) -> None:
    # Named: Valkey logs a script's commands as its caller, and on the unix socket the
    # name is all that tells two clients apart.
    with redis.Redis.from_url(redis_url, client_name="caller") as caller, \
            redis.Redis.from_url(redis_url, client_name="other") as other:
        caller.flushall()
        sha = caller.script_load(SCRIPT)
        with slowlog_everything(caller, 1000):
            for n in range(3):
                other.get("elsewhere")  # another client's plain command, not the script's
                assert caller.evalsha(sha, 1, "k", n) == str(n).encode()
        costs, logged = script_costs(caller, 1000)
    [cost] = [c for c in costs if c.name == f"sha {sha[:8]}"]
    assert (cost.calls, cost.nested_commands) == (3, 2.0)
    assert logged >= 3 * 4


def test_the_server_is_named_with_its_own_version(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        info = client.info("server")
        label = server_label(client)
    if "valkey_version" in info:
        assert label == f"Valkey {info['valkey_version']}"
    else:
        assert label == f"Redis {info['redis_version']}"
