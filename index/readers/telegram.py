"""Telegram Desktop "Export chat history" (result.json, JSON format): one statement per message with text."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .base import ReadResult, ReadStatement, Unreadable, join_paragraphs

_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,31})$")


def looks_like(data: bytes) -> bool:
    """A Telegram export starts as a JSON object naming a chat or a chat list."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and (b'"messages"' in data[:1 << 20] or b'"chats"' in head)


def read(path: str, data: bytes, sidecar: dict[str, Any]) -> ReadResult:
    """Read every chat in an export; the sidecar may name the channel's `username` for t.me links."""
    try:
        export = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unreadable(f"not a valid JSON Telegram export ({exc})") from None
    chats = list(_chats(export))
    if not chats:
        raise Unreadable("JSON, but not a Telegram export (no 'messages' list)")
    result = ReadResult()
    single = len(chats) == 1
    username = _username(sidecar.get("username") or sidecar.get("telegram_username")) if single else None
    for chat in chats:
        _read_chat(chat, username, result, sidecar if single else {})
    return result


def _chats(export: Any) -> Iterator[dict]:
    """One chat's export, or the chats of a whole-account export."""
    if not isinstance(export, dict):
        return
    if isinstance(export.get("messages"), list):
        yield export
        return
    for group in ("chats", "left_chats"):
        block = export.get(group)
        for chat in (block.get("list") if isinstance(block, dict) else None) or []:
            if isinstance(chat, dict) and isinstance(chat.get("messages"), list):
                yield chat


def _username(value: Any) -> str | None:
    m = _USERNAME.match(str(value).strip()) if value else None
    return m.group(1) if m else None


def _read_chat(chat: dict, username: str | None, result: ReadResult, sidecar: dict[str, Any]) -> None:
    """The sidecar names the channel (speaker, source, username); a signature or a forward still wins."""
    name = _text_of(chat.get("name")) or "Telegram chat"
    chat_id = chat.get("id")
    extra = {k: v for k, v in sidecar.items() if k not in ("username", "telegram_username", "speaker", "source")}
    for msg in chat["messages"]:
        if not isinstance(msg, dict):
            result.skipped.append(("#?", "not a message object"))
            continue
        mid = msg.get("id")
        where = f"#{mid}"
        if msg.get("type", "message") != "message":
            result.skipped.append((where, f"service message ({_text_of(msg.get('action')) or msg.get('type')})"))
            continue
        text, links = _flatten(msg.get("text") if "text" in msg else msg.get("text_entities"))
        if not text.strip():
            media = next((k for k in ("photo", "file", "media_type", "sticker_emoji", "poll", "location_information",
                                      "contact_information") if msg.get(k)), None)
            result.skipped.append((where, f"no text ({media or 'empty message'})"))
            continue
        st = _statement(msg, text, links, name, chat_id, username, where)
        if not (st.meta.get("forwarded_from") or st.meta.get("author_signature")) and sidecar.get("speaker"):
            st.meta["speaker"] = sidecar["speaker"]
        if sidecar.get("source") and "url" not in st.meta:
            st.meta["source"] = sidecar["source"]
        st.meta.update(extra)
        result.statements.append(st)


def _statement(msg: dict, text: str, links: list[str], name: str, chat_id: Any, username: str | None,
               where: str) -> ReadStatement:
    mid = msg.get("id")
    when = _utc(msg.get("date_unixtime"))
    meta: dict[str, Any] = {"channel": name, "telegram_message_id": mid}
    if chat_id is not None:
        meta["telegram_chat_id"] = chat_id
    if when:
        meta["date"] = when.strftime("%Y-%m-%d")
        meta["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(msg.get("date"), str):
        meta["date"] = msg["date"][:10]  # local time of the exporting machine: the best there is
    edited = _utc(msg.get("edited_unixtime"))
    if edited or msg.get("edited"):
        meta["edited"] = edited.strftime("%Y-%m-%dT%H:%M:%SZ") if edited else str(msg["edited"])
    if msg.get("reply_to_message_id") is not None:
        meta["reply_to_message_id"] = msg["reply_to_message_id"]
    if links:
        meta["links"] = links
    author = _text_of(msg.get("author"))
    forwarded = _text_of(msg.get("forwarded_from"))
    # Attribution is the product: a forward speaks for its origin, a signed post for its author.
    meta["speaker"] = forwarded or author or name
    if forwarded:
        meta["forwarded_from"] = forwarded
        meta["forwarded_by"] = name
    if author:
        meta["author_signature"] = author
    url = f"https://t.me/{username}/{mid}" if username and isinstance(mid, int) else None
    meta["source"] = url or name
    if url:
        meta["url"] = url
    doc_id = f"tg-{chat_id}-{mid}" if chat_id is not None else None
    return ReadStatement(text=join_paragraphs(re.split(r"\n\s*\n", text)), meta=meta,
                         id=doc_id if doc_id else None, where=where)


def _flatten(value: Any) -> tuple[str, list[str]]:
    """Text of a message: a string, or a list of strings and entities; text_link targets collected."""
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        return "", []
    parts, links = [], []
    for item in value:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            parts.append(_text_of(item.get("text"), strip=False))
            href = item.get("href")
            if item.get("type") == "text_link" and isinstance(href, str) and href not in links:
                links.append(href)
    return "".join(parts), links


def _text_of(value: Any, strip: bool = True) -> str:
    if isinstance(value, list):
        value = _flatten(value)[0]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    return str(value).strip() if strip else str(value)


def _utc(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
