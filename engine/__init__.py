"""livebenefits engine: the domain core, no HTTP.

Typed values in, typed values out. All state lives in Redis and changes only through
the Lua scripts in ``lua_scripts/``; key names live in :mod:`engine.keys` (see
``docs/keys.md`` for the layout and the two-slot protocols).
"""
