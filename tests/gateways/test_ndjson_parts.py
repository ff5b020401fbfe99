"""An NDJSON stream cut into parts of whole lines (gateways/ndjson_parts.py)."""

from __future__ import annotations

import io
from pathlib import Path

from gateways.ndjson_parts import PartReader, count_lines


class Trickle(io.RawIOBase):
    """Hands out a few bytes per read, so parts are cut across many reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at = data, step, 0

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        chunk = self.data[self.at:self.at + self.step]
        self.at += len(chunk)
        return chunk


def test_parts_hold_whole_lines_numbered_over_the_stream() -> None:
    data = b"".join(b'{"n": %d}\n' % n for n in range(1, 24)) + b"\n" + b'{"last": "no newline"}'
    reader = PartReader(Trickle(data, 7), part_lines=10)  # type: ignore[arg-type]
    parts = []
    while (part := reader.next_part()) is not None:
        parts.append(part)
    assert [(p.index, p.first_line, p.lines) for p in parts] == [(0, 1, 10), (1, 11, 10), (2, 21, 5)]
    assert b"".join(p.data for p in parts) == data
    assert all(p.data.endswith(b"\n") for p in parts[:-1])
    assert parts[1].data.startswith(b'{"n": 11}\n')
    assert parts[2].data.split(b"\n")[3:] == [b"", b'{"last": "no newline"}']


def test_count_lines_counts_an_unfinished_last_line(tmp_path: Path) -> None:
    path = tmp_path / "m.ndjson"
    path.write_bytes(b"a\nb\n")
    assert count_lines(path) == 2
    path.write_bytes(b"a\nb\nc")
    assert count_lines(path) == 3
    path.write_bytes(b"")
    assert count_lines(path) == 0


def test_a_stream_ending_on_a_part_boundary_has_no_empty_part() -> None:
    # One read returns all of it: the lines past the first part wait in the reader.
    data = b"".join(b"%d\n" % n for n in range(1, 21))
    reader = PartReader(io.BytesIO(data), part_lines=10)
    first, second = reader.next_part(), reader.next_part()
    assert first is not None and second is not None
    assert (first.first_line, first.lines, second.first_line, second.lines) == (1, 10, 11, 10)
    assert second.data == b"".join(b"%d\n" % n for n in range(11, 21))
    assert reader.next_part() is None
    assert PartReader(io.BytesIO(b""), part_lines=10).next_part() is None
