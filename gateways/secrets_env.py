"""The engine's two secrets: from the environment, else (for the demo) from ``<data-dir>/secrets.env``.

The demo writes the secrets it generates to the data dir so that the tokens it prints
keep working after a restart on the same data dir. The file is shell syntax, so
``set -a; . var/secrets.env; set +a`` exports them for ``serve`` without ``--demo``.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

JWT_VAR = "LIVEBENEFITS_JWT_SECRET"
WEBHOOK_VAR = "LIVEBENEFITS_WEBHOOK_SECRET"
FILE_NAME = "secrets.env"


@dataclass(frozen=True, slots=True)
class Secrets:
    jwt: str = field(repr=False)
    webhook: str = field(repr=False)
    # Where they came from, for the startup message: "env", "file" or "generated".
    origin: str


def secrets_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / FILE_NAME


def read_file(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The variables in ``<data_dir>/secrets.env``; empty when there is no such file."""
    path = secrets_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def generate() -> tuple[str, str]:
    """A fresh JWT secret and a Standard Webhooks secret (``whsec_`` + base64 of 24 bytes)."""
    return secrets.token_urlsafe(32), "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _write_file(data_dir: Path, jwt_secret: str, webhook_secret: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = secrets_path(data_dir)
    # Created 0600 from the start: the file holds signing keys.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# Written by `livebenefits serve --demo`; reused by the next --demo start on this data dir.\n"
                "# Load into a shell with: set -a; . ./secrets.env; set +a\n"
                f"{JWT_VAR}={jwt_secret}\n{WEBHOOK_VAR}={webhook_secret}\n")


def resolve(env: Mapping[str, str], data_dir: str | os.PathLike[str], *, demo: bool) -> Secrets | None:
    """The secrets to serve with, or None when there is no JWT secret and this is not a demo.

    The environment always wins. The demo fills what the environment lacks from
    the data dir's file, else generates it and writes the file.
    """
    jwt_secret = env.get(JWT_VAR, "")
    webhook_secret = env.get(WEBHOOK_VAR, "")
    if jwt_secret and webhook_secret:
        return Secrets(jwt_secret, webhook_secret, "env")
    if not demo:
        return Secrets(jwt_secret, webhook_secret, "env") if jwt_secret else None
    stored = read_file(data_dir)
    if stored.get(JWT_VAR) and stored.get(WEBHOOK_VAR):
        return Secrets(jwt_secret or stored[JWT_VAR], webhook_secret or stored[WEBHOOK_VAR], "file")
    new_jwt, new_webhook = generate()
    jwt_secret = jwt_secret or new_jwt
    webhook_secret = webhook_secret or new_webhook
    _write_file(Path(data_dir), jwt_secret, webhook_secret)
    return Secrets(jwt_secret, webhook_secret, "generated")
