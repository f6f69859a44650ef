"""Alert fixtures: a ledger (SQLite file; PostgreSQL when reachable), the DingTalk sandbox's group robot on
loopback, a local SMTP server (aiosmtpd) with STARTTLS and login, and records put into the ledger through
its own API (collect, claim, finish)."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from alerts_peers import KEYWORD, ROBOT_SECRET, ROBOT_TOKEN

from ferry.store import Ledger
from pg_support import fresh_pg_schema, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty ledger no other test uses."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
        with Ledger(url) as ledger:
            ledger.migrate()
        yield url
        return
    require_postgres()
    with fresh_pg_schema("t_alerts") as url:
        with Ledger(url) as ledger:
            ledger.migrate()
        yield url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger(ledger_url) as ledger:
        yield ledger


@pytest.fixture
def robot(start_sandbox: Callable[..., Any]) -> Any:
    """The DingTalk sandbox with a signed robot that also has a keyword setting."""
    sb = start_sandbox(seed_instances=0)
    sb.http.post(
        "/_sandbox/robots", json={"access_token": ROBOT_TOKEN, "secret": ROBOT_SECRET, "keywords": [KEYWORD]}
    )
    return sb


# ---------------------------------------------------------------- SMTP


@dataclass
class Mailbox:
    """The SMTP server of a test: where it listens, a client context that trusts it, what it got."""

    host: str
    port: int
    context: ssl.SSLContext
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, so the SMTP server can offer STARTTLS."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def mailbox(tls_files: tuple[Path, Path]) -> Iterator[Mailbox]:
    """aiosmtpd on loopback that requires STARTTLS and a login (user ferry, password from the test)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from ferry.sandbox.serve import free_port

    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    box = Mailbox("127.0.0.1", free_port(), client_ctx)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"ferry" and data.password == b"mail-pass-123"
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        Handler(),
        hostname=box.host,
        port=box.port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# ---------------------------------------------------------------- records
