"""Raw sockets against a live engine, for what an HTTP client library will not send
(a head that never ends, 64 MB nobody asked for), and a process's resident memory."""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children (uvicorn's workers), in KiB."""
    total = 0
    for each in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


@contextlib.contextmanager
def open_files(at_least: int) -> Iterator[None]:
    """This process may hold ``at_least`` file descriptors (the soft limit raised, then restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = at_least if hard == resource.RLIM_INFINITY else min(at_least, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def response_of(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, socket.timeout):
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
        if _complete(data):
            break
    return data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def send_until_answered(sock: socket.socket, head: bytes, body_size: int, tail: bytes = b"",
                        chunk: int = 1 << 20, timeout: float = 20.0) -> tuple[bytes, int]:
    """Send ``head``, up to ``body_size`` bytes of junk and ``tail``, stopping as soon as an
    answer arrives (or the server stops reading). (The answer, how many junk bytes were sent.)"""
    sock.sendall(head)
    block = b"x" * chunk
    sent = 0
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    try:
        while sent < body_size and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(block[: min(chunk, body_size - sent)])
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
        else:
            if tail and sent >= body_size:
                with contextlib.suppress(OSError):
                    sock.setblocking(True)
                    sock.sendall(tail)
    finally:
        sock.setblocking(True)
    return response_of(sock, max(deadline - time.monotonic(), 1.0)), sent


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response, 0 for none."""
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else 0
