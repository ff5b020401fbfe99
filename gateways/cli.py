"""The ``livebenefits`` command: ``serve`` runs the engine, ``token`` prints a bearer token.

``serve`` without a Redis URL starts the embedded valkey-server in the data dir, hands
its URL to the uvicorn workers through the environment, and shuts Redis down (which
flushes the AOF) after the workers have stopped, on SIGTERM as on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from . import secrets_env
from engine.identity import InvalidIdentity, normalise
from engine.redis_server import EmbeddedRedis
from engine.settings import token_max_ttl_s
from engine.tokens import ROLES, mint
from engine.types import ID_PATTERN

if TYPE_CHECKING:
    from gateways.server import ServerLimits

APP = "gateways.app:create_app"
# uvicorn's httptools protocol with a head deadline, a head size limit and a connection cap.
PROTOCOL = "gateways.server:LimitedHttpToolsProtocol"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# Long-lived SSE streams would hold a graceful shutdown open for ever; past this many
# seconds uvicorn closes them so a SIGTERM always ends in a clean Redis SHUTDOWN.
_GRACEFUL_SHUTDOWN_S = 5


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class _Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C does, so the embedded Redis is stopped."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def _say(message: str) -> None:
    print(f"livebenefits: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livebenefits", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP engine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    serve.add_argument("--redis-url", default=None,
                       help="an existing Redis or Valkey (default: $LIVEBENEFITS_REDIS_URL or $REDIS_URL, "
                            "else the embedded valkey-server in --data-dir)")
    serve.add_argument("--redis-cluster", action="store_true",
                       help="the URL names any node of a Redis Cluster (or LIVEBENEFITS_REDIS_CLUSTER=1)")
    serve.add_argument("--data-dir", default="./var", help="embedded Redis data and demo secrets (default ./var)")
    serve.add_argument("--fsync", choices=("everysec", "always"), default="everysec",
                       help="AOF fsync policy of the embedded Redis (default everysec)")
    serve.add_argument("--demo", action="store_true",
                       help="load a demo ladder, leaders, members and a live session; print tokens")
    serve.add_argument("--log-level", choices=LOG_LEVELS,
                       default=os.environ.get("LIVEBENEFITS_LOG_LEVEL", "warning").lower(),
                       help="uvicorn's log level (default $LIVEBENEFITS_LOG_LEVEL, else warning)")

    token = commands.add_parser("token", help="print a bearer token signed with LIVEBENEFITS_JWT_SECRET")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--sub", required=True, help="viewer: kind:value identity; leader: leader id")
    token.add_argument("--ttl", type=int, default=3600,
                       help="seconds until it expires (default 3600; at most $LIVEBENEFITS_TOKEN_MAX_TTL, 30 days)")
    token.add_argument("--data-dir", default="./var",
                       help="when LIVEBENEFITS_JWT_SECRET is unset, use the demo's secrets.env here")

    webhook = commands.add_parser("webhook", help="send one platform event, signed with LIVEBENEFITS_WEBHOOK_SECRET")
    webhook.add_argument("type", help="the event type, e.g. order.paid, viewer.joined, live.ended")
    webhook.add_argument("--data", default="{}", help="the event's data as a JSON object (default {})")
    webhook.add_argument("--id", default=None, help="the webhook-id (default: a fresh one)")
    webhook.add_argument("--url", default=os.environ.get("LB", "http://127.0.0.1:8000"),
                         help="the engine (default $LB, else http://127.0.0.1:8000)")
    webhook.add_argument("--data-dir", default="./var",
                         help="when LIVEBENEFITS_WEBHOOK_SECRET is unset, use the demo's secrets.env here")
    # Parsed by gateways/import_command.py (main() hands it the arguments before this parser).
    commands.add_parser("import", help="stream an NDJSON member file to a running engine (import --help)")
    return parser


def _token(args: argparse.Namespace) -> int:
    secret = _secret(secrets_env.JWT_VAR, args.data_dir)
    if not secret:
        return 2
    if args.ttl <= 0:
        _say("--ttl must be a positive number of seconds")
        return 2
    max_ttl = token_max_ttl_s(os.environ)
    if args.ttl > max_ttl:
        _say(f"--ttl must be at most {max_ttl:g} s (LIVEBENEFITS_TOKEN_MAX_TTL): the engine refuses longer-lived tokens")
        return 2
    refused = _refused_subject(args.role, args.sub)
    if refused:
        _say(f"--sub {args.sub!r}: {refused}; the engine would refuse this token")
        return 2
    print(mint(secret, args.role, args.sub, args.ttl))
    return 0


def _refused_subject(role: str, sub: str) -> str:
    """Why the engine would refuse a token of ``role`` for ``sub``; "" if it would not."""
    if role == "viewer":
        try:
            normalise(sub)
        except InvalidIdentity as exc:
            return str(exc)
        return ""
    if role == "leader" and not re.fullmatch(ID_PATTERN, sub):
        return "a leader id is 1-64 characters of letters, digits and . _ : -"
    return "" if sub.strip() else "the subject is empty"


def _secret(name: str, data_dir: str) -> str:
    """``name`` from the environment, else from the demo's secrets.env in ``data_dir``; "" if neither."""
    secret = os.environ.get(name, "")
    if not secret:
        secret = secrets_env.read_file(data_dir).get(name, "")
        if secret:
            _say(f"using the secret in {secrets_env.secrets_path(data_dir)}")
    if not secret:
        _say(f"{name} is not set (and there is no {secrets_env.FILE_NAME} in {data_dir})")
    return secret


def _webhook(args: argparse.Namespace) -> int:
    from gateways.platform_sender import SendFailed, parse_data, send

    secret = _secret(secrets_env.WEBHOOK_VAR, args.data_dir)
    if not secret:
        return 2
    try:
        answer = send(args.url, secret, args.type, parse_data(args.data), args.id)
    except SendFailed as exc:
        _say(str(exc))
        return 2
    print(f"{answer.status_code} {answer.text}".rstrip())
    return 0 if answer.is_success else 1


def _local_base_url(host: str, port: int) -> str:
    """Where this machine reaches the server, also when it listens on every address."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _run_uvicorn(args: argparse.Namespace, limits: ServerLimits) -> None:
    import uvicorn

    from gateways.server import raise_open_files_limit

    # uvloop and httptools when installed (they are, with uvicorn[standard] on Linux
    # and macOS); the pure-Python ones otherwise, rather than failing to start. On h11
    # uvicorn's own head size limit and concurrency cap stand in for PROTOCOL's.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    limited = importlib.util.find_spec("httptools") is not None
    raise_open_files_limit(limits)
    uvicorn.run(APP, factory=True, host=args.host, port=args.port, workers=args.workers,
                loop=loop, http=PROTOCOL if limited else "h11", ws="none", access_log=False,
                log_level=args.log_level, timeout_keep_alive=limits.keep_alive_s,
                h11_max_incomplete_event_size=limits.max_header_bytes,
                limit_concurrency=None if limited else limits.max_connections,
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S)


def _fresh_metrics_dir(env: MutableMapping[str, str]) -> str:
    """prometheus-client's multiprocess dir, emptied: one scrape then adds up every worker.

    It must be set before any worker imports prometheus_client, and must not hold the
    files of an earlier run (their counts would be added in).
    """
    path = env.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="livebenefits-metrics-")
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _serve(args: argparse.Namespace) -> int:
    env = os.environ
    if args.workers < 1:
        _say("--workers must be at least 1")
        return 2
    redis_url = args.redis_url or env.get("LIVEBENEFITS_REDIS_URL") or env.get("REDIS_URL") or ""
    cluster = args.redis_cluster or _flag(env.get("LIVEBENEFITS_REDIS_CLUSTER"))
    if cluster and not redis_url:
        _say("--redis-cluster needs --redis-url (or REDIS_URL) naming a cluster node")
        return 2
    secrets = secrets_env.resolve(env, args.data_dir, demo=args.demo)
    if secrets is None:
        _say(f"refusing to start: {secrets_env.JWT_VAR} is not set, so no token could ever be verified.\n"
             f"  Set it (and {secrets_env.WEBHOOK_VAR}), e.g. export {secrets_env.JWT_VAR}=$(openssl rand -base64 32),\n"
             "  or run `livebenefits serve --demo`, which generates both.")
        return 2
    if not secrets.webhook:
        _say(f"warning: {secrets_env.WEBHOOK_VAR} is not set; every platform webhook will be refused")
    from gateways.server import ServerLimits

    try:
        # Read here only to refuse a bad value before anything starts; each worker reads its own.
        limits = ServerLimits.from_env(env)
    except ValueError as exc:
        _say(f"refusing to start: {exc}")
        return 2

    embedded: EmbeddedRedis | None = None
    demo_stop = threading.Event()
    # uvicorn handles SIGTERM itself while it runs, then re-raises it once its workers
    # have stopped; this handler turns it (and one that comes before uvicorn starts)
    # into an exception, so the finally below still shuts Redis down.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if not redis_url:
            embedded = EmbeddedRedis(args.data_dir, fsync=args.fsync)
            redis_url = embedded.start()
            _say(f"embedded Redis at {redis_url} (AOF, fsync {args.fsync}, data in {Path(args.data_dir).resolve()})")
        # The workers are separate processes that read their settings from the environment.
        env["LIVEBENEFITS_REDIS_URL"] = redis_url
        if cluster:
            env["LIVEBENEFITS_REDIS_CLUSTER"] = "1"
        env[secrets_env.JWT_VAR] = secrets.jwt
        env[secrets_env.WEBHOOK_VAR] = secrets.webhook
        base_url = _local_base_url(args.host, args.port)
        if args.demo:
            from . import demo

            if secrets.origin == "generated":
                print(demo.secrets_banner(secrets, args.data_dir, generated=True), flush=True)
            elif secrets.origin == "file":
                print(demo.secrets_banner(secrets, args.data_dir, generated=False), flush=True)
            demo.start_loader(base_url, secrets.jwt, demo_stop)
        _fresh_metrics_dir(env)
        _say(f"starting {args.workers} worker(s) on {base_url}")
        _run_uvicorn(args, limits)
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        # A second Ctrl-C or SIGTERM must not interrupt the Redis shutdown half-way.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo_stop.set()
        if embedded is not None:
            embedded.stop()
            _say("embedded Redis shut down cleanly")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["import"]:
        from gateways import import_command

        return import_command.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "token":
        return _token(args)
    if args.command == "webhook":
        return _webhook(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
