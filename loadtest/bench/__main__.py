"""``python -m loadtest.bench``: the engine next to its peers (compare.py)."""

import sys

from .compare import main

sys.exit(main())
