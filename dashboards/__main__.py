"""``python -m dashboards`` prints every dashboard as sorted JSON; ``--write`` updates the committed files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from .live_sale import UID, live_sale

HERE = Path(__file__).resolve().parent
# File name (the dashboard's uid) -> the function that builds it.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {f"{UID}.json": live_sale}


def render(build: Callable[[], Dashboard]) -> str:
    """The dashboard's JSON as committed: keys sorted, two-space indent, a final newline."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write each dashboard to {HERE}/<uid>.json")
    args = parser.parse_args(argv)
    for file_name, build in DASHBOARDS.items():
        text = render(build)
        if args.write:
            (HERE / file_name).write_text(text, encoding="utf-8")
            print(f"wrote {HERE / file_name}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
