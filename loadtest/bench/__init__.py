"""The benchmarks: white-box, unlike the locust scenarios beside this folder.

They start their own redis-servers and engines, read Redis directly (INFO, MEMORY
USAGE, the slowlog, commandstats) and call the engine's functions and scripts
in-process; the locust scenarios in ``loadtest/`` use the public API only.

    python -m loadtest.bench            the engine next to its peers (compare.py)
    python -m loadtest.bench.fsync      what --fsync always costs
    python -m loadtest.bench.memory     memory over a member's life
"""
