"""``livebenefits import FILE|-``: stream an NDJSON member file to a running engine.

The parts go to ``POST /v1/members/import`` several at once (gateways/member_import.py);
a progress bar on stderr shows the lines the engine has answered for and their rate,
lines sent and rejected so far, and an ETA when the number of lines is known (a file's
are counted alongside, stdin's are not). Rejected lines end up in a file, one JSON
object a line: ``{"line": <number in the whole input>, "error": "...", "input": "..."}``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, BinaryIO

import msgspec
from tqdm import tqdm

from gateways import secrets_env
from engine.settings import token_max_ttl_s
from engine.tokens import mint

from .member_import import (EngineRefused, EngineUnreachable, ImportOptions, ImportResult, PartAnswer, Progress,
                            RejectedLine, send)
from .ndjson_parts import Part, count_lines

DESCRIPTION = ("Stream an NDJSON member file (or stdin) to a running engine's POST /v1/members/import, "
               "in parts sent several at once, with a progress bar and a file of the rejected lines.")
EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130
URL_VAR = "LIVEBENEFITS_URL"
TOKEN_VAR = "LIVEBENEFITS_OPERATOR_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"
STDIN_REJECTED = "import-rejected.ndjson"
# A minted token must outlive the import: the engine checks it on every part.
_MINTED_TTL_S = 24 * 3600

EXIT_CODES = f"""exit codes:
  {EXIT_OK}    every line was applied (blank lines are skipped)
  {EXIT_REJECTED}    the import ran to the end but the engine rejected some lines (see --rejected)
  {EXIT_USAGE}    bad arguments, an unreadable input, or no token and no secret to mint one
  {EXIT_REFUSED}    the engine refused a part (4xx: wrong token or role, not a livebenefits URL);
       parts already answered stay imported
  {EXIT_UNREACHABLE}    the engine could not be reached, or a part still failed (5xx, broken
       connection) after --retries; run the import again: it is an upsert
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)"""


def _say(message: str) -> None:
    print(f"livebenefits import: {message}", file=sys.stderr, flush=True)


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livebenefits import", description=DESCRIPTION,
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="FILE|-", help="NDJSON, one member a line; - reads stdin")
    p.add_argument("--url", default=env.get(URL_VAR) or DEFAULT_URL,
                   help=f"the engine (default ${URL_VAR}, else {DEFAULT_URL})")
    p.add_argument("--token", default=env.get(TOKEN_VAR) or None,
                   help=f"an operator bearer token (default ${TOKEN_VAR}; else one is minted with "
                        f"${secrets_env.JWT_VAR} or the {secrets_env.FILE_NAME} in --data-dir)")
    p.add_argument("--data-dir", default="./var", help="where the demo keeps its secrets.env (default ./var)")
    p.add_argument("--part-lines", type=int, default=50_000, help="lines per request (default 50000)")
    p.add_argument("--parts-in-flight", type=int, default=4,
                   help="requests sent at once, each on its own connection (default 4)")
    p.add_argument("--retries", type=int, default=3,
                   help="times a part answered 5xx/429 or cut off is sent again (default 3)")
    p.add_argument("--rejected", metavar="PATH", default=None,
                   help="where rejected lines go (default: members.rejected.ndjson next to members.ndjson, "
                        f"./{STDIN_REJECTED} for stdin); left only when a line is rejected")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only the final report")
    return p


def _token(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    if args.token:
        return str(args.token)
    secret = env.get(secrets_env.JWT_VAR, "")
    if not secret:
        secret = secrets_env.read_file(args.data_dir).get(secrets_env.JWT_VAR, "")
    if not secret:
        return None
    return mint(secret, "operator", "livebenefits-import", int(min(_MINTED_TTL_S, token_max_ttl_s(env))))


def rejected_path(source: str) -> Path:
    if source == "-":
        return Path(STDIN_REJECTED)
    path = Path(source)
    return path.with_name(f"{path.stem}.rejected.ndjson")


class _Bar(Progress):
    """tqdm on stderr. The bar counts lines the engine has answered for, so its rate and
    ETA are the import's; lines sent run ahead of it by up to ``parts_in_flight`` parts
    (the engine reads a part while it parses it and answers once it is applied)."""

    def __init__(self, report: IO[bytes], enabled: bool) -> None:
        self.interval_s = 0.2 if sys.stderr.isatty() else 1.0
        # smoothing=0: the average rate since the start, not of the last part's jump.
        self.bar = tqdm(desc="import", unit=" lines", unit_scale=True, file=sys.stderr, disable=not enabled,
                        mininterval=self.interval_s, smoothing=0, dynamic_ncols=True)
        self.report = report
        self.lines_sent = 0
        self.applied = 0
        self.rejected_lines = 0
        self._encode = msgspec.json.Encoder().encode
        self._shown_at = 0.0

    def total(self, lines: int) -> None:
        self.bar.total = lines
        self.bar.refresh()

    def _postfix(self, refresh: bool) -> None:
        self.bar.set_postfix_str(f"sent {self.lines_sent:,}, rejected {self.rejected_lines:,}", refresh=refresh)

    def sent(self, lines: int) -> None:
        self.lines_sent += lines
        # At most one redraw per mininterval between answers.
        now = time.monotonic()
        if now - self._shown_at >= self.interval_s:
            self._shown_at = now
            self._postfix(refresh=True)

    def answered(self, part: Part, answer: PartAnswer) -> None:
        self.applied += answer.imported + answer.updated
        self.rejected_lines += len(answer.rejected)
        self._postfix(refresh=False)
        self.bar.update(part.lines)

    def rejected(self, lines: list[RejectedLine]) -> None:
        self.report.write(b"".join(self._encode(line) + b"\n" for line in lines))

    def retrying(self, part: Part, reason: str, wait_s: float) -> None:
        self.bar.write(f"livebenefits import: {part} {reason}; sending it again in {wait_s:g} s", file=sys.stderr)


async def _run(options: ImportOptions, source: BinaryIO, counted: str | None, bar: _Bar) -> ImportResult:
    counting = None
    if counted is not None:
        counting = asyncio.ensure_future(asyncio.to_thread(count_lines, counted))
        counting.add_done_callback(lambda done: done.cancelled() or done.exception() or bar.total(done.result()))
    try:
        return await send(options, source, bar)
    finally:
        if counting is not None and not counting.done():
            counting.cancel()


def _open(source: str) -> tuple[BinaryIO, str | None]:
    """The input, and its path when it is a regular file (whose lines can be counted)."""
    if source == "-":
        # Unbuffered, and fd 0 left open on close: a read blocked on a quiet pipe then
        # holds no lock that closing it (after Ctrl-C, or a refused part) would wait for.
        return open(sys.stdin.fileno(), "rb", buffering=0, closefd=False), None
    f = open(source, "rb")
    return f, source if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = parser(env).parse_args(argv)
    if min(args.part_lines, args.parts_in_flight) < 1 or args.retries < 0:
        _say("--part-lines and --parts-in-flight must be at least 1, --retries at least 0")
        return EXIT_USAGE
    token = _token(args, env)
    if token is None:
        _say(f"no token: pass --token or set {TOKEN_VAR}, or set {secrets_env.JWT_VAR} "
             f"(or have a {secrets_env.FILE_NAME} in {args.data_dir}) to mint one")
        return EXIT_USAGE
    report_path = Path(args.rejected) if args.rejected else rejected_path(args.source)
    if args.source != "-" and report_path.resolve() == Path(args.source).resolve():
        _say("--rejected names the input file")
        return EXIT_USAGE
    try:
        source, counted = _open(args.source)
    except OSError as exc:
        _say(f"cannot read {args.source}: {exc.strerror or exc}")
        return EXIT_USAGE
    try:
        # Opened (and emptied) up front: an unwritable path fails before anything is sent,
        # and an earlier run's report never stays behind as this run's.
        report = open(report_path, "wb")
    except OSError as exc:
        source.close()
        _say(f"cannot write the rejected lines to {report_path}: {exc.strerror or exc}")
        return EXIT_USAGE
    options = ImportOptions(args.url, token, part_lines=args.part_lines, parts_in_flight=args.parts_in_flight,
                            retries=args.retries)
    bar = _Bar(report, enabled=not args.no_progress)
    code = EXIT_OK
    try:
        with source, report:
            result = asyncio.run(_run(options, source, counted, bar))
    except EngineRefused as exc:
        code, message = EXIT_REFUSED, str(exc)
    except EngineUnreachable as exc:
        code, message = EXIT_UNREACHABLE, str(exc)
    except KeyboardInterrupt:
        code, message = EXIT_INTERRUPTED, "interrupted"
    except OSError as exc:
        code, message = EXIT_USAGE, f"cannot read {args.source}: {exc.strerror or exc}"
    finally:
        bar.bar.close()
        if bar.rejected_lines == 0:
            report_path.unlink(missing_ok=True)
    if code != EXIT_OK:
        applied = f"{bar.applied:,} lines applied before it stopped" if bar.applied else "no line applied"
        _say(f"{message}\n  {applied}; the import is an upsert, so running it again is safe")
        if bar.rejected_lines:
            _say(f"{bar.rejected_lines:,} line(s) rejected so far, listed in {report_path}")
        return code
    _say(_summary(result, args.parts_in_flight))
    if result.rejected:
        _say(f"{result.rejected:,} line(s) rejected, listed in {report_path} (line number in the input, reason)")
        return EXIT_REJECTED
    return EXIT_OK


def _summary(result: ImportResult, parts_in_flight: int) -> str:
    rate = result.lines / result.seconds if result.seconds else 0.0
    text = (f"{result.lines:,} lines in {result.seconds:.1f} s ({rate:,.0f} lines/s): {result.imported:,} new, "
            f"{result.updated:,} updated, {result.rejected:,} rejected; up to {result.peak_parts_in_flight} "
            f"of {parts_in_flight} parts in flight")
    if result.retried:
        text += f"\n  {len(result.retried)} part(s) sent again: " + "; ".join(result.retried[:5])
    return text
