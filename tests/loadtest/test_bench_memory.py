"""The memory benchmark (loadtest/bench/memory.py) on a private server: a full ledger of
20 movements per member is measured, and stays bounded however many movements came."""

from __future__ import annotations

from loadtest.bench.memory import report_lines, run_private


def test_a_full_ledger_is_measured_and_bounded() -> None:
    result = run_private(member_count=30, session_count=1, seated=30)
    assert result.ledgered == 30
    # 20 compact entries (~60 bytes each) and the list's own overhead; 22 movements were made.
    assert 600 < result.ledger_per_member_b < 2000, result
    assert 0 < result.movement_key_b < 200, result
    assert any("a full ledger of 20 movements" in line for line in report_lines(result))
