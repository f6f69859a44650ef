"""Client auth modes against the sandbox: session reuse, re-login once on MsgCode 1, signed headers, secrets."""

from __future__ import annotations

import asyncio

import pytest
from kd_client_support import PASSWORD, ClientFactory, Server, make_auth

from ferry.connectors.errors import AccessDenied, Reauthenticate
from ferry.connectors.kingdee import AuthMode
from ferry.observe.calls import MemoryCallRecorder


async def _query(client) -> list:  # type: ignore[no-untyped-def]
    return await client.execute_bill_query("CN_PAYAPPLY", ["FBillNo"], "FDocumentStatus='C'")


@pytest.mark.parametrize(
    "mode", [AuthMode.VALIDATE_USER, AuthMode.APP_SECRET, AuthMode.SIGN, AuthMode.SIGNED_HEADERS]
)
async def test_each_mode_works_and_reuses_one_session(
    server: Server, make_client: ClientFactory, recorder: MemoryCallRecorder, mode: AuthMode
) -> None:
    server.admin("POST", "bills", json={"count": 2})
    client = make_client(mode)
    for _ in range(3):
        assert len(await _query(client)) == 2
    logins = server.admin("GET", "stats")["logins"]
    assert sum(logins.values()) == 1, logins
    assert client.session_id is not None
    assert recorder.count(api="ExecuteBillQuery", status="ok") == 3
    assert all(c.connection == "kingdee_test" and c.http_status == 200 for c in recorder.calls)


@pytest.mark.parametrize("mode", [AuthMode.VALIDATE_USER, AuthMode.SIGN])
async def test_expired_session_triggers_exactly_one_relogin(
    server: Server, make_client: ClientFactory, recorder: MemoryCallRecorder, mode: AuthMode
) -> None:
    # a second of idle life: long enough that a loaded machine's login and first query never outlive it
    server.admin("PUT", "config", json={"session_ttl": 1.0})
    client = make_client(mode)
    await _query(client)
    first = client.session_id
    await asyncio.sleep(1.5)  # idle past the TTL: the server forgets the session
    assert await _query(client) == []
    assert client.session_id != first
    assert [c.status for c in recorder.calls if c.api == "ExecuteBillQuery"] == ["ok", "reauthenticate", "ok"]
    assert sum(server.admin("GET", "stats")["logins"].values()) == 2


async def test_session_loss_fault_is_handled_and_a_write_is_replayed_once(
    server: Server, make_client: ClientFactory
) -> None:
    client = make_client(AuthMode.APP_SECRET)
    await _query(client)
    server.fault("session_loss", ["save"])
    saved = await client.save("CN_PAYAPPLY", {"FPAYAPPLYENTRY": [{"FAPPLYAMOUNTFOR": 3}]})
    assert saved.number == "FKSQ000001"
    # the failed attempt did nothing (the session is checked first), so there is exactly one bill
    assert len(server.admin("GET", "bills")["bills"]) == 1


async def test_persistent_session_loss_raises_reauthenticate(
    server: Server, make_client: ClientFactory
) -> None:
    client = make_client(AuthMode.VALIDATE_USER)
    server.fault("session_loss", count=5)
    await client.login()
    with pytest.raises(Reauthenticate) as err:
        await _query(client)
    assert err.value.code == "MsgCode=1"


async def test_signed_headers_mode_recovers_from_a_lost_session(
    server: Server, make_client: ClientFactory
) -> None:
    client = make_client(AuthMode.SIGNED_HEADERS)
    await _query(client)
    server.admin("POST", "sessions/expire")
    assert await _query(client) == []  # re-verified from the signatures, a new session opened silently
    assert server.admin("GET", "stats")["logins"] == {"signed_headers": 2}


async def test_bad_credentials_are_access_denied(make_client: ClientFactory) -> None:
    for mode, overrides in [
        (AuthMode.VALIDATE_USER, {"password": "wrong"}),
        (AuthMode.APP_SECRET, {"app_secret": "f" * 32}),
        (AuthMode.SIGN, {"username": "mallory"}),
        (AuthMode.SIGNED_HEADERS, {"app_secret": "f" * 32}),
        (AuthMode.SIGNED_HEADERS, {"acct_id": "other-data-centre"}),
    ]:
        client = make_client(auth=make_auth(mode, **overrides))
        with pytest.raises(AccessDenied):
            await _query(client)


async def test_secrets_never_appear_in_reprs_messages_or_records(
    server: Server, make_client: ClientFactory, recorder: MemoryCallRecorder
) -> None:
    auth = make_auth(AuthMode.VALIDATE_USER, password="s3cr3t-PASS")
    client = make_client(auth=auth)
    assert "s3cr3t" not in repr(auth) and "s3cr3t" not in repr(client)
    assert PASSWORD not in repr(make_auth(AuthMode.VALIDATE_USER))
    with pytest.raises(AccessDenied) as err:
        await _query(client)
    assert "s3cr3t" not in str(err.value)
    assert all("s3cr3t" not in repr(c) for c in recorder.calls)
    assert recorder.count(api="ValidateUser", status="access_denied") == 1


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ValueError, match="password"):
        make_auth(AuthMode.VALIDATE_USER, password="")
    with pytest.raises(ValueError, match="app_secret"):
        make_auth(AuthMode.SIGN, app_secret="")


async def test_concurrent_calls_share_one_relogin(server: Server, make_client: ClientFactory) -> None:
    client = make_client(AuthMode.APP_SECRET, concurrency=8)
    await _query(client)
    server.admin("POST", "sessions/expire")
    results = await asyncio.gather(*(_query(client) for _ in range(8)))
    assert results == [[]] * 8
    assert server.admin("GET", "stats")["logins"] == {"LoginByAppSecret": 2}
