"""The client's signing against the reference test vectors and the official SDK's own functions."""

from __future__ import annotations

import base64
import time

from k3cloud_webapi_sdk.main import K3CloudApiSdk
from k3cloud_webapi_sdk.util import encode_util, hmac_util

from ferry.connectors.kingdee import (
    AuthMode,
    KingdeeAuth,
    client_secret,
    hmac_sha256_b64hex,
    login_sign,
    signed_headers,
)

APP_ID = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
SECRET = "0123456789abcdef0123456789abcdef"
URL = "http://erp.example.com/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Push.common.kdsvc"


def _auth(**kw: object) -> KingdeeAuth:
    values: dict[str, object] = {
        "acct_id": "65a0b1c2d3e4f5",
        "username": "demo",
        "app_id": APP_ID,
        "app_secret": SECRET,
        "org_num": 100,
    }
    values.update(kw)
    return KingdeeAuth.create(AuthMode.SIGNED_HEADERS, **values)  # type: ignore[arg-type]


def test_login_by_sign_vector() -> None:
    assert (
        login_sign("65a0b1c2d3e4f5", "demo", APP_ID, SECRET, "1700000000")
        == "77cfcf5d21220a4b73dc771e6c64be3187b289c1fbf2f6344ab7ac94a11e4011"
    )


def test_signed_header_vectors() -> None:
    assert client_secret(APP_ID) == "MCC2JDe0GaXoBuG8dSekaTenWPX6RrOs"
    headers = signed_headers(URL, _auth(), "1700000000")
    assert headers["X-Api-Signature"] == (
        "Nzc3ZWU0MmE2NDI2YzYwZmYwMzNmOGJiNzk1MjM2OTE5NGUwZDQzN2NlODliOTQ4NDdmOTE4OGE5NmJjYTAzMQ=="
    )
    assert headers["X-Kd-Appdata"] == "NjVhMGIxYzJkM2U0ZjUsZGVtbywyMDUyLDEwMA=="
    assert headers["X-Kd-Signature"] == (
        "NjczMWI1YWI1NDVjOWRkZjNiNjU0NmZmZjNmZmNmZTRmN2NmZDk2ZjgxNDI3OWUxMjNlNjExMGUzODBhMmRlNw=="
    )
    assert headers["X-Api-ClientID"] == "224466" and headers["x-api-nonce"] == "1700000000"
    assert (
        headers["x-api-signheaders"] == "x-api-timestamp,x-api-nonce"
        and headers["X-Api-Auth-Version"] == "2.0"
    )


def test_headers_equal_the_official_sdk_for_another_app() -> None:
    app_id = "918273_" + base64.b64encode(bytes(range(40, 64))).decode()
    secret = "a-different-secret"
    assert client_secret(app_id) == encode_util.DecodeAppSecret(app_id.split("_")[1])
    assert hmac_sha256_b64hex("message", secret) == hmac_util.HmacSHA256("message", secret)
    sdk = K3CloudApiSdk("http://h:81/k3cloud/")
    sdk.InitConfig(
        acct_id="dc1",
        user_name="王五",
        app_id=app_id,
        app_secret=secret,
        server_url="http://h:81/k3cloud/",
        org_num=0,
    )
    url = "http://h:81/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc"
    theirs = sdk.BuildHeader(url)
    ours = signed_headers(
        url,
        _auth(acct_id="dc1", username="王五", app_id=app_id, app_secret=secret, org_num=0),
        theirs["x-api-timestamp"],
    )
    for key, value in ours.items():
        assert theirs[key] == value, key
    assert abs(int(theirs["x-api-timestamp"]) - time.time()) < 5


def test_app_id_of_the_wrong_shape_is_refused_for_signed_headers() -> None:
    assert client_secret("no-underscore") == "" and client_secret("1_short") == ""
    try:
        _auth(app_id="123_short")
    except ValueError as exc:
        assert "<clientId>_<32 characters>" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected ValueError")
