"""The console's words, in Chinese first (its users are Chinese finance and IT teams) and English.

Templates write English and pass it through ``t``: ``{{ t("Records") }}`` shows 记录 in Chinese. A page
module adds its own words with :func:`add` when it is imported, so a new page brings its translations
with it. A word with no translation shows in English (a test lists the words each page is missing).

The language is the ``lang`` cookie (set by the switch in the header), else the console's default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGUAGES = ("zh", "en")

#: English text -> Chinese text
ZH: dict[str, str] = {
    "Ferry console": "Ferry 控制台",
    "Overview": "总览",
    "Runs": "运行记录",
    "Records": "数据记录",
    "Dead letters": "死信与隔离",
    "Log in": "登录",
    "Log out": "退出",
    "Name": "姓名",
    "Password": "密码",
    "Your name, for the audit trail": "您的姓名（记入操作日志）",
    "Wrong password": "密码错误",
    "Too many failed logins; wait a minute": "登录失败次数过多，请一分钟后再试",
    "operator": "操作员",
    "viewer": "只读用户",
    "Scheme": "集成方案",
    "Schemes": "集成方案",
    "Status": "状态",
    "Health": "健康状态",
    "on time": "准时",
    "late": "延迟",
    "failing": "失败",
    "never run": "尚未运行",
    "Last run": "上次运行",
    "Next run": "下次运行",
    "Last success": "上次成功",
    "Today": "今日",
    "Written": "已写入",
    "Failures": "失败",
    "Amount": "金额",
    "Error rate": "错误率",
    "Records written per hour, last 7 days": "近 7 天每小时写入记录数",
    "pending": "待处理",
    "writing": "写入中",
    "written": "已写入",
    "failed": "失败待重试",
    "dead": "死信",
    "skipped": "已跳过",
    "quarantined": "已隔离",
    "in_doubt": "待核实",
    "watching": "观察中",
    "finishing": "待完成后续操作",
    "held": "待复核",
    "Search": "搜索",
    "Reason": "原因",
    "Source id": "来源编号",
    "Number": "单据号",
    "Target": "目标单据",
    "Attempts": "尝试次数",
    "Updated": "更新时间",
    "Retry": "重试",
    "Skip": "跳过",
    "Replay": "重放",
    "Download JSON": "下载 JSON",
    "Events": "事件",
    "Source payload": "源数据",
    "Rendered request": "请求内容",
    "Target response": "目标响应",
    "No records": "没有记录",
    "Kind": "类型",
    "Trigger": "触发方式",
    "Started": "开始时间",
    "Duration": "耗时",
    "Error": "错误",
    "Unresolved": "未解决",
    "All": "全部",
    "Language": "语言",
}

_CATALOGS: dict[str, dict[str, str]] = {"zh": ZH, "en": {}}


def add(language: str, words: Mapping[str, str]) -> None:
    """Add translations (a page module's own words)."""
    _CATALOGS.setdefault(language, {}).update(words)


def translator(language: str) -> Callable[..., str]:
    """``t(text, **values)``: ``text`` in ``language`` (English when untranslated), formatted."""
    catalog = _CATALOGS.get(language, {})

    def t(text: str, **values: object) -> str:
        out = catalog.get(text, text)
        return out.format(**values) if values else out

    return t


def missing(language: str, words: set[str]) -> set[str]:
    """Which of ``words`` have no translation in ``language``."""
    catalog = _CATALOGS.get(language, {})
    return {w for w in words if w not in catalog}


__all__ = ["LANGUAGES", "ZH", "add", "missing", "translator"]
