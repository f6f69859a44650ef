"""Sandbox authentication: the three session logins, sliding expiry, and the SDK's signed headers."""

from __future__ import annotations

import hashlib
import time

import httpx
from k3cloud_webapi_sdk.main import K3CloudApiSdk
from kd_sandbox_support import ACCT, APP_ID, APP_SECRET, AUTH, DYNAMIC, PASSWORD, USER, Caller, status_of

from ferry.sandbox.kingdee.auth import client_secret_of, hmac_b64hex, login_sign, string_to_sign

QUERY = {"data": {"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo"}}

# reference §3.1 / §4 test vectors
VECTOR_APP_ID = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
VECTOR_SECRET = "0123456789abcdef0123456789abcdef"


def test_sandbox_signing_matches_reference_vectors() -> None:
    assert (
        login_sign("65a0b1c2d3e4f5", "demo", VECTOR_APP_ID, VECTOR_SECRET, "1700000000")
        == "77cfcf5d21220a4b73dc771e6c64be3187b289c1fbf2f6344ab7ac94a11e4011"
    )
    assert client_secret_of(VECTOR_APP_ID) == "MCC2JDe0GaXoBuG8dSekaTenWPX6RrOs"
    path = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Push.common.kdsvc"
    assert hmac_b64hex(string_to_sign(path, "1700000000", "1700000000"), client_secret_of(VECTOR_APP_ID)) == (
        "Nzc3ZWU0MmE2NDI2YzYwZmYwMzNmOGJiNzk1MjM2OTE5NGUwZDQzN2NlODliOTQ4NDdmOTE4OGE5NmJjYTAzMQ=="
    )
    assert hmac_b64hex(VECTOR_APP_ID + "65a0b1c2d3e4f5,demo,2052,100", VECTOR_SECRET) == (
        "NjczMWI1YWI1NDVjOWRkZjNiNjU0NmZmZjNmZmNmZTRmN2NmZDk2ZjgxNDI3OWUxMjNlNjExMGUzODBhMmRlNw=="
    )


def test_validate_user_returns_session_in_body_and_cookies(kd: Caller) -> None:
    r = kd.post(AUTH, "ValidateUser", [ACCT, USER, PASSWORD, 2052])
    body = r.json()
    assert body["LoginResultType"] == 1 and body["IsSuccessByAPI"] is True
    assert body["Context"]["SessionId"] == body["KDSVCSessionId"]
    assert r.cookies["kdservice-sessionid"] == body["KDSVCSessionId"]
    assert "ASP.NET_SessionId" in r.cookies


def test_wrong_password_is_refused_with_login_result_zero(kd: Caller) -> None:
    body = kd.post(AUTH, "ValidateUser", [ACCT, USER, "nope", 2052]).json()
    assert body["LoginResultType"] == 0 and body["KDSVCSessionId"] is None
    assert kd.post(AUTH, "ValidateUser", ["other-dc", USER, PASSWORD, 2052]).json()["LoginResultType"] == -1


def test_login_by_app_secret_positional_and_named(kd: Caller) -> None:
    assert (
        kd.post(AUTH, "LoginByAppSecret", {"parameters": [ACCT, USER, APP_ID, APP_SECRET, 2052]}).json()[
            "LoginResultType"
        ]
        == 1
    )
    named = {"acctid": ACCT, "userName": USER, "appid": APP_ID, "appSec": APP_SECRET, "lcid": 2052}
    assert kd.post(AUTH, "LoginByAppSecret", named).json()["LoginResultType"] == 1
    wrong = {"acctID": ACCT, "username": USER, "appId": APP_ID, "appSecret": "x" * 32, "lcid": 2052}
    assert kd.post(AUTH, "LoginByAppSecret", wrong).json()["LoginResultType"] == 0


def test_login_by_sign_checks_the_sha256_signature(kd: Caller) -> None:
    ts = str(int(time.time()))
    # computed here independently: sorted, concatenated, SHA-256 hex
    sign = hashlib.sha256("".join(sorted([ACCT, USER, APP_ID, APP_SECRET, ts])).encode()).hexdigest()
    assert kd.post(AUTH, "LoginBySign", [ACCT, USER, APP_ID, ts, sign, 2052]).json()["LoginResultType"] == 1
    assert (
        kd.post(AUTH, "LoginBySign", [ACCT, USER, APP_ID, ts, "0" * 64, 2052]).json()["LoginResultType"] == 0
    )


def test_session_carried_by_cookie_header_or_sid(kd: Caller) -> None:
    sid = kd.login()
    with httpx.Client(cookies={"kdservice-sessionid": sid}) as jar_client:
        assert jar_client.post(kd.base + f"{DYNAMIC}.ExecuteBillQuery.common.kdsvc", json=QUERY).json() == []
    for header in ("kdservice-sessionid", "SID"):
        kd.http.cookies.clear()
        assert kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, {header: sid}).json() == []


def test_no_session_answers_msgcode_1_wrapped_for_queries(kd: Caller) -> None:
    kd.http.cookies.clear()
    wrapped = kd.post(DYNAMIC, "ExecuteBillQuery", QUERY).json()
    assert isinstance(wrapped, list) and isinstance(wrapped[0], list)
    status = status_of(wrapped)
    assert status["MsgCode"] == 1 and status["Errors"][0]["Message"] == "会话信息已丢失，请重新登录"
    plain = kd.post(DYNAMIC, "Save", {"formid": "CN_PAYAPPLY", "data": {"Model": {}}}).json()
    assert plain["Result"]["ResponseStatus"]["MsgCode"] == 1
    assert plain["Result"]["ResponseStatus"]["ErrorCode"] == 500


def test_session_expiry_slides_with_use(kd: Caller) -> None:
    kd.admin("PUT", "config", json={"session_ttl": 0.6})
    sid = kd.login()
    kd.http.cookies.clear()
    headers = {"kdservice-sessionid": sid}
    for _ in range(3):
        # each call within the TTL restarts the idle timer, so 3 × 0.35 s > TTL still works
        time.sleep(0.35)
        assert kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, headers).json() == []
    time.sleep(0.8)
    assert status_of(kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, headers).json())["MsgCode"] == 1


def _sdk_headers(base: str, op: str, app_secret: str = APP_SECRET, acct: str = ACCT) -> dict[str, str]:
    # the official SDK builds the signed headers: an implementation independent of the sandbox
    sdk = K3CloudApiSdk(base)
    sdk.InitConfig(acct_id=acct, user_name=USER, app_id=APP_ID, app_secret=app_secret, server_url=base)
    headers: dict[str, str] = sdk.BuildHeader(f"{base}{DYNAMIC}.{op}.common.kdsvc")
    return headers


def test_signed_headers_open_a_session_silently_and_reuse_it(kd: Caller) -> None:
    kd.http.cookies.clear()
    r = kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, _sdk_headers(kd.base, "ExecuteBillQuery"))
    assert r.json() == []
    sid = r.cookies["kdservice-sessionid"]
    kd.http.cookies.clear()
    # a live session is accepted without re-checking signatures (reference §4, EMP S6)
    assert kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, {"kdservice-sessionid": sid}).json() == []
    assert kd.sandbox.logins["signed_headers"] == 1


def test_signed_headers_with_bad_secret_answer_session_lost(kd: Caller) -> None:
    kd.http.cookies.clear()
    headers = _sdk_headers(kd.base, "ExecuteBillQuery", app_secret="f" * 32)
    assert status_of(kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, headers).json())["MsgCode"] == 1
    # a signature made for another path does not verify either
    moved = _sdk_headers(kd.base, "Save")
    assert status_of(kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, moved).json())["MsgCode"] == 1


def test_signed_headers_with_wrong_acct_id_answer_non_200(kd: Caller) -> None:
    kd.http.cookies.clear()
    r = kd.post(
        DYNAMIC, "ExecuteBillQuery", QUERY, _sdk_headers(kd.base, "ExecuteBillQuery", acct="wrong-dc")
    )
    assert r.status_code != 200 and "Fail to verify thirty passport" in r.text


def test_logout_ends_the_session(kd: Caller) -> None:
    sid = kd.login()
    assert kd.post(AUTH, "Logout", {}, {"kdservice-sessionid": sid}).json() is True
    kd.http.cookies.clear()
    assert (
        status_of(kd.post(DYNAMIC, "ExecuteBillQuery", QUERY, {"kdservice-sessionid": sid}).json())["MsgCode"]
        == 1
    )
