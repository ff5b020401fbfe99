"""JSON encoding shared by the engine and the edge: decimals as JSON numbers."""

from __future__ import annotations

import msgspec

encoder = msgspec.json.Encoder(decimal_format="number")
encode = encoder.encode
