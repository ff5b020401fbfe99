"""``livebenefits import``: a real engine, the command run as users run it (a process of
its own for what they see: the progress bar, stdin, errors without a traceback), and
in-process for the arguments."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateways import import_command
from tests.conftest import JWT_SECRET
from tests.live import REPO, LiveEngine, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(redis_url: str) -> Iterator[LiveEngine]:
    with LiveEngine(redis_url, workers=2) as live:
        yield live


def members(prefix: str, count: int, bad: dict[int, bytes] | None = None) -> bytes:
    """``count`` NDJSON lines; ``bad`` replaces some (numbered from 1)."""
    bad = bad or {}
    return b"".join(bad.get(n) or orjson.dumps({"member_id": f"{prefix}-{n}", "identities": [f"card:{prefix}-{n}"],
                                                "growth": n, "points": 1}) + b"\n"
                    for n in range(1, count + 1))


def livebenefits(args: list[str], *, env: dict[str, str], cwd: Path, stdin: bytes | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console script, as ``python -m gateways.cli`` with this tree first on the path."""
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("LIVEBENEFITS_")} | {"PYTHONPATH": str(REPO)} | env
    return subprocess.run([sys.executable, "-m", "gateways.cli", "import", *args], input=stdin and stdin.decode(),
                          capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def explain(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}"


def test_a_file_import_shows_progress_and_a_summary(engine: LiveEngine, tmp_path: Path) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    source = tmp_path / "members.ndjson"
    source.write_bytes(members(prefix, 6000))
    run = livebenefits([str(source), "--part-lines", "1000", "--parts-in-flight", "3"], cwd=tmp_path,
                       env={"LIVEBENEFITS_URL": engine.base_url, "LIVEBENEFITS_JWT_SECRET": JWT_SECRET})
    assert run.returncode == 0, explain(run)
    assert "Traceback" not in run.stderr
    # tqdm's bar: lines answered for, of a total known from the file, so a percentage and
    # an ETA; their rate in lines per second; lines sent and rejected so far.
    bar = run.stderr.replace("\r", "\n")
    assert re.search(r"import: 100%\|.*\| 6\.00k/6\.00k \[\d\d:\d\d<\d\d:\d\d, +(?:[\d.]+k?|\?) lines/s, "
                     r"sent 6,000, rejected 0\]", bar), explain(run)
    assert re.search(r"6,000 lines in [\d.]+ s \([\d,]+ lines/s\): 6,000 new, 0 updated, 0 rejected; "
                     r"up to [23] of 3 parts in flight", run.stderr), explain(run)
    # Nothing was rejected: no report file.
    assert not (tmp_path / "members.rejected.ndjson").exists()
    got = httpx.get(f"{engine.base_url}/v1/members/{prefix}-6000", headers=engine.headers("operator", "ops"))
    assert got.json()["growth"] == 6000


def test_stdin_with_rejected_lines_numbered_in_the_whole_input(engine: LiveEngine, tmp_path: Path) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}"
    bad = {3: b'{"member_id": "x"\n', 25: b'{"member_id": "%s-25", "identities": ["fax:1"]}\n' % prefix.encode(),
           40: b"[]\n"}
    token = engine.token("operator", "ops-stdin")
    run = livebenefits(["-", "--part-lines", "10", "--parts-in-flight", "4"], cwd=tmp_path,
                       stdin=members(prefix, 40, bad),
                       env={"LIVEBENEFITS_URL": engine.base_url, "LIVEBENEFITS_OPERATOR_TOKEN": token})
    assert run.returncode == 1, explain(run)
    assert "Traceback" not in run.stderr
    # No total on stdin: a count and a rate, no percentage.
    assert re.search(r"import: 40(?:\.0)? lines \[[\d:]+, +(?:[\d.]+k?|\?) lines/s, sent 40, rejected 3\]",
                     run.stderr.replace("\r", "\n")), explain(run)
    assert "3 line(s) rejected, listed in import-rejected.ndjson" in run.stderr
    report = [json.loads(line) for line in (tmp_path / "import-rejected.ndjson").read_text().splitlines()]
    assert [r["line"] for r in report] == [3, 25, 40]
    assert report[0]["input"] == '{"member_id": "x"'
    assert "kind:value" in report[1]["error"]
    assert report[2]["input"] == "[]"


def test_ctrl_c_while_stdin_is_quiet_ends_the_import_at_once(engine: LiveEngine, tmp_path: Path) -> None:
    """A read blocked on an open, quiet pipe must not hold the exit up (it did: closing
    stdin's buffered reader waited for the read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBENEFITS_")}
    env.update(PYTHONPATH=str(REPO), LIVEBENEFITS_URL=engine.base_url,
               LIVEBENEFITS_OPERATOR_TOKEN=engine.token("operator", "ops-ctrl-c"))
    read, write = os.pipe()
    try:
        os.write(write, members(f"i{uuid.uuid4().hex[:8]}", 3))
        with subprocess.Popen([sys.executable, "-m", "gateways.cli", "import", "-"], stdin=read,
                              stderr=subprocess.PIPE, env=env, cwd=tmp_path) as process:
            os.close(read)
            try:
                # Its bar is drawn just before it checks the engine; half a second later
                # it is blocked reading the quiet pipe.
                assert process.stderr is not None
                seen = b""
                while b"import:" not in seen and len(seen) < 4096:
                    seen += process.stderr.read(1)
                time.sleep(0.5)
                started = time.monotonic()
                process.send_signal(signal.SIGINT)
                err = (seen + process.communicate(timeout=10)[1]).decode()
                took = time.monotonic() - started
            finally:
                if process.poll() is None:
                    process.kill()
    finally:
        os.close(write)
    assert process.returncode == import_command.EXIT_INTERRUPTED, err
    assert took < 5, took
    assert "interrupted" in err and "Traceback" not in err


def test_a_wrong_url_or_token_is_a_clear_error(engine: LiveEngine, tmp_path: Path) -> None:
    source = tmp_path / "m.ndjson"
    source.write_bytes(members("e", 3))
    nowhere = f"http://127.0.0.1:{free_port()}"
    run = livebenefits([str(source), "--url", nowhere, "--token", engine.token("operator", "o")], cwd=tmp_path, env={})
    assert run.returncode == import_command.EXIT_UNREACHABLE, explain(run)
    assert f"cannot reach the engine at {nowhere}" in run.stderr and "Traceback" not in run.stderr

    run = livebenefits([str(source), "--url", engine.base_url, "--token", "forged"], cwd=tmp_path, env={})
    assert run.returncode == import_command.EXIT_REFUSED, explain(run)
    assert "refused the token (401" in run.stderr and "Traceback" not in run.stderr

    viewer = engine.token("viewer", "phone:+8613900000009")
    run = livebenefits([str(source), "--url", engine.base_url, "--token", viewer], cwd=tmp_path, env={})
    assert run.returncode == import_command.EXIT_REFUSED, explain(run)
    assert "not an operator's (403" in run.stderr and "Traceback" not in run.stderr

    # No token and nothing to mint one with: a usage error before anything is sent.
    run = livebenefits([str(source), "--url", engine.base_url, "--data-dir", str(tmp_path)], cwd=tmp_path, env={})
    assert run.returncode == import_command.EXIT_USAGE, explain(run)
    assert "no token" in run.stderr and "Traceback" not in run.stderr


def test_the_token_is_minted_from_the_demo_secrets_file(engine: LiveEngine, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "secrets.env").write_text(f"LIVEBENEFITS_JWT_SECRET={JWT_SECRET}\n")
    source = tmp_path / "m.ndjson"
    source.write_bytes(members(f"d{uuid.uuid4().hex[:8]}", 5))
    code = import_command.main([str(source), "--url", engine.base_url, "--data-dir", str(tmp_path), "--no-progress"],
                               env={})
    assert code == import_command.EXIT_OK, capsys.readouterr().err
    assert "5 lines in" in capsys.readouterr().err


def test_the_report_goes_next_to_the_input_and_an_old_one_is_removed(engine: LiveEngine, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"n{uuid.uuid4().hex[:8]}"
    source = tmp_path / "batch.ndjson"
    source.write_bytes(members(prefix, 4, {2: b"{}\n"}))
    env = {"LIVEBENEFITS_URL": engine.base_url, "LIVEBENEFITS_OPERATOR_TOKEN": engine.token("operator", "o")}
    assert import_command.main([str(source), "--no-progress"], env=env) == import_command.EXIT_REJECTED
    report = tmp_path / "batch.rejected.ndjson"
    assert [json.loads(line)["line"] for line in report.read_text().splitlines()] == [2]
    # Fixed and imported again: the earlier report does not stay behind as this run's.
    source.write_bytes(members(prefix, 4))
    assert import_command.main([str(source), "--no-progress"], env=env) == import_command.EXIT_OK
    assert not report.exists()
    err = capsys.readouterr().err
    assert "4 lines in" in err and "1 new, 3 updated" in err


def test_arguments_are_checked_before_anything_is_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"LIVEBENEFITS_OPERATOR_TOKEN": "t"}
    assert import_command.main([str(tmp_path / "missing.ndjson")], env=env) == import_command.EXIT_USAGE
    assert "cannot read" in capsys.readouterr().err
    source = tmp_path / "m.ndjson"
    source.write_bytes(b"{}\n")
    assert import_command.main([str(source), "--rejected", str(source)], env=env) == import_command.EXIT_USAGE
    assert import_command.main([str(source), "--parts-in-flight", "0"], env=env) == import_command.EXIT_USAGE
    assert source.read_bytes() == b"{}\n"


def test_help_names_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        import_command.main(["--help"], env={})
    out = capsys.readouterr().out
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"^  {code} +\S", out, re.M), out
