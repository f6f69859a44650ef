"""A notification's body as markdown (robots) or plain text (e-mail), within the robots' size limits.

Every record of every alert is named (its source id), compactly, so a digest of 300 dead records still
names all 300; only past :data:`MAX_BYTES` is the list cut, and the cut says how many more and links to the
console's filtered list, where they all are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

#: DingTalk takes markdown up to about 20,000 bytes and WeCom 4,096; stay under each with room to spare
MAX_BYTES = {"dingtalk": 18_000, "wecom": 4_000, "webhook": 200_000, "email": 200_000}
_RECORDS_INLINE = 20


def title(body: dict[str, Any]) -> str:
    return str(body.get("title", "Ferry alert"))[:100]


def markdown(body: dict[str, Any], *, limit: int = 18_000) -> str:
    """The message text: a heading, one line per alert, the records it concerns, links to the console."""
    lines = [f"### {title(body)}"]
    if body.get("kind") == "digest":
        lines.extend(_digest_lines(body))
    else:
        for a in body.get("alerts", []):
            mark = "✅ " if a["state"] == "resolved" else ("🆕 " if a.get("new") else "")
            lines.append(f"- {mark}{a['summary']}")
            records = a.get("records") or []
            if records and (len(records) > 1 or a.get("count")):
                ids = ", ".join(str(r["source_id"]) for r in records)
                lines.append(f"  records ({a.get('count') or len(records)}): {ids}")
            if a.get("link"):
                lines.append(f"  [records in the console]({a['link']})")
    if body.get("link"):
        lines.append(f"\n[alerts in the console]({body['link']})")
    return _fit(lines, limit, body.get("link"))


def _digest_lines(body: dict[str, Any]) -> list[str]:
    """One line per (rule, scheme, state) naming every record: a digest must lose nothing."""
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    other: list[str] = []
    links: dict[tuple[str, str, str], str] = {}
    for part in body.get("parts", []):
        for a in part.get("alerts", []):
            key = (a["labels"].get("rule", ""), a["labels"].get("scheme", ""), a["state"])
            ids = [str(r["source_id"]) for r in a.get("records") or []]
            if ids:
                grouped[key].extend(ids)
                if a.get("link"):
                    links.setdefault(key, a["link"])
            else:
                other.append(f"- {'✅ ' if a['state'] == 'resolved' else ''}{a['summary']}")
    lines = []
    for (rule, scheme, state), ids in grouped.items():
        head = f"**{rule}** · {scheme}" + (" (resolved)" if state == "resolved" else "")
        lines.append(f"- {head}: {len(ids)} records: {', '.join(dict.fromkeys(ids))}")
        if (rule, scheme, state) in links:
            lines.append(f"  [records in the console]({links[(rule, scheme, state)]})")
    return lines + other


def _fit(lines: list[str], limit: int, link: Any) -> str:
    text = "\n".join(lines)
    if len(text.encode()) <= limit:
        return text
    cut = text.encode()[: limit - 200].decode(errors="ignore")
    return cut.rsplit(",", 1)[0] + f" … (cut to fit the robot's limit; all of them: {link})"


def plain(body: dict[str, Any]) -> str:
    """E-mail text: the markdown without its heading marks."""
    return markdown(body, limit=200_000).replace("### ", "").replace("**", "")


__all__ = ["MAX_BYTES", "markdown", "plain", "title"]
