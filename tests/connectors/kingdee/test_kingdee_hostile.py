"""The Kingdee client against a server that hangs up while the request is still being written.

httpx calls that a ``WriteError`` (or, by the timing, a ``ReadError``/``RemoteProtocolError``): the
server may have acted on what it read, so a write is *outcome unknown* (probe first) and a read a retry.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from ferry.connectors.errors import OutcomeUnknown, RetryLater
from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient

AUTH = KingdeeAuth.create(
    AuthMode.SIGNED_HEADERS,
    acct_id="65a0b1c2d3e4f5",
    username="demo",
    app_id="224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
    app_secret="0123456789abcdef0123456789abcdef",
)


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A TCP server that reads a little of each request, then resets the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.recv(2048)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/k3cloud/"
    stop.set()
    thread.join(2)
    server.close()


async def test_a_write_cut_off_while_sending_is_outcome_unknown_and_a_read_is_a_retry(hangs_up: str) -> None:
    big = {"FBillNo": "X", "FNote": "n" * 4_000_000}  # several MiB: the reset lands mid-body
    async with KingdeeClient(hangs_up, AUTH, timeout=5) as client:
        with pytest.raises(OutcomeUnknown) as write:
            await client.save("CN_PAYAPPLY", big)
        with pytest.raises(RetryLater) as read:
            await client.execute_bill_query("CN_PAYAPPLY", "FBillNo", "FNote='" + "n" * 4_000_000 + "'")
    assert write.value.code in {"WriteError", "ReadError", "RemoteProtocolError"}
    assert type(read.value) is RetryLater
