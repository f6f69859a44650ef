"""The official ``alibabacloud-dingtalk`` SDK, unchanged, against the sandbox's v1.0 host.

Only the SDK's ``Config`` changes (``protocol="http"``, ``endpoint="127.0.0.1:PORT"``), as a user would
point it at a proxy. If the sandbox's shapes drifted from the real API, the SDK's models would miss
fields or its error handling would raise differently.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
from alibabacloud_dingtalk.workflow_1_0 import models as wf_models
from alibabacloud_dingtalk.workflow_1_0.client import Client as WorkflowClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models

DAY_MS = 86_400_000


def sdk_config(sb: Any) -> open_api_models.Config:
    return open_api_models.Config(
        protocol="http", region_id="central", endpoint=sb.url.removeprefix("http://")
    )


def sdk_token(sb: Any) -> str:
    answer = OAuthClient(sdk_config(sb)).get_access_token(
        oauth_models.GetAccessTokenRequest(app_key=sb.config.app_key, app_secret=sb.config.app_secret)
    )
    assert answer.status_code == 200 and answer.body.expire_in == 7200
    return str(answer.body.access_token)


def list_page(sb: Any, token: str, next_token: int, max_results: int = 20, **kw: Any) -> Any:
    now = int(time.time() * 1000)
    request = wf_models.ListProcessInstanceIdsRequest(
        process_code=sb.config.process_code,
        start_time=now - 90 * DAY_MS,
        end_time=now,
        next_token=next_token,
        max_results=max_results,
        **kw,
    )
    headers = wf_models.ListProcessInstanceIdsHeaders(x_acs_dingtalk_access_token=token)
    return WorkflowClient(sdk_config(sb)).list_process_instance_ids_with_options(
        request, headers, util_models.RuntimeOptions()
    )


def get_instance(sb: Any, token: str, instance_id: str) -> Any:
    headers = wf_models.GetProcessInstanceHeaders(x_acs_dingtalk_access_token=token)
    return WorkflowClient(sdk_config(sb)).get_process_instance_with_options(
        wf_models.GetProcessInstanceRequest(process_instance_id=instance_id),
        headers,
        util_models.RuntimeOptions(),
    )


def test_sdk_gets_a_token_and_pages_instance_ids_to_the_end(sandbox: Any) -> None:
    token = sdk_token(sandbox)
    ids: list[str] = []
    next_token: int | None = 0
    while next_token is not None:
        page = list_page(sandbox, token, next_token, max_results=8)
        assert page.status_code == 200 and page.body.success is True
        ids += page.body.result.list
        next_token = int(page.body.result.next_token) if page.body.result.next_token else None
    assert ids == [
        i["process_instance_id"] for i in sandbox.http.get("/_sandbox/instances").json()["instances"]
    ]


def test_sdk_reads_an_instance_into_its_models(sandbox: Any) -> None:
    token = sdk_token(sandbox)
    running = sandbox.http.get("/_sandbox/instances", params={"status": "RUNNING"}).json()["instances"][0]
    iid = running["process_instance_id"]
    before = get_instance(sandbox, token, iid).body.result
    assert before.status == "RUNNING" and before.finish_time is None
    sandbox.http.post(f"/_sandbox/instances/{iid}/approve").raise_for_status()
    result = get_instance(sandbox, token, iid).body.result
    assert (result.status, result.result) == ("COMPLETED", "agree")
    assert result.business_id == running["business_id"] and result.title == running["title"]
    assert result.create_time.endswith("Z") and result.finish_time >= result.create_time
    by_name = {c.name: c for c in result.form_component_values if c.name}
    money = by_name["付款金额"]
    assert (money.component_type, money.biz_alias) == (
        "MoneyField",
        "amount",
    ) and '"upper"' in money.ext_value
    assert by_name["费用明细"].component_type == "TableField" and "rowValue" in by_name["费用明细"].value
    assert all(isinstance(t.task_id, int) and t.status == "COMPLETED" for t in result.tasks)
    assert {r.type for r in result.operation_records} >= {"START_PROCESS_INSTANCE", "EXECUTE_TASK_NORMAL"}


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ({"rates": {"throttle": 1.0}}, 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
        ({"rates": {"throttle_global": 1.0}}, 403, "Forbidden.AccessDenied.QpsLimitForApi"),
        ({"rates": {"busy": 1.0}}, 500, "systemError"),
        ({"rates": {"token_expire": 1.0}}, 400, "InvalidAuthentication"),
    ],
)
def test_sdk_sees_the_real_error_answers(sandbox: Any, setup: dict[str, Any], status: int, code: str) -> None:
    token = sdk_token(sandbox)
    sandbox.http.put("/_sandbox/faults", json=setup).raise_for_status()
    with pytest.raises(Exception) as caught:
        list_page(sandbox, token, 0)
    error: Any = caught.value
    assert error.code == code
    assert error.data["statusCode"] == status and error.data["requestid"]


def test_sdk_sees_validation_and_not_found_errors(sandbox: Any) -> None:
    token = sdk_token(sandbox)
    with pytest.raises(Exception) as too_big:
        list_page(sandbox, token, 0, max_results=21)
    assert getattr(too_big.value, "code", None) == "invalidMaxResults"
    with pytest.raises(Exception) as missing:
        get_instance(sandbox, token, "no-such-instance")
    assert getattr(missing.value, "code", None) == "processInstanceNotExist"
    with pytest.raises(Exception) as bad_login:
        OAuthClient(sdk_config(sandbox)).get_access_token(
            oauth_models.GetAccessTokenRequest(app_key=sandbox.config.app_key, app_secret="wrong")
        )
    assert getattr(bad_login.value, "code", None) == "invalidClientIdOrSecret"
