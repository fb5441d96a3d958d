"""Validation of message content, one rule set per message type.

Every error names the offending field as ``content.<key>`` (or ``message_type``), so a
form can show it beside the right input. Content is the JSON stored in
``messages.content``; the gateway receives it unchanged.

| type        | required                                   | optional            |
|-------------|--------------------------------------------|---------------------|
| text        | text (non-empty, ≤ MAX_TEXT_LENGTH chars)  |                     |
| image, file | url or media_id                            | filename (file)     |
| link        | title, url                                 | description, thumb_url |
| miniprogram | appid, title, pagepath                     | thumb_url / thumb_media_id |
| at          | mentions (non-empty list of user ids, or "all") | text           |
"""

from __future__ import annotations

from typing import Any

from wework.enums import MessageType
from wework.errors import ValidationError
from wework.services.validators import json_value

MAX_TEXT_LENGTH = 4000  # WeCom's limit for one text message (characters)
MAX_FIELD_LENGTH = 2048
MAX_MENTIONS = 200


def parse_message_type(value: str | MessageType, field: str = "message_type") -> MessageType:
    try:
        return MessageType(value)
    except ValueError:
        allowed = ", ".join(m.value for m in MessageType)
        raise ValidationError(field, f"unknown message type {value!r}; one of {allowed}") from None


def _string(content: dict[str, Any], key: str, *, required: bool, limit: int = MAX_FIELD_LENGTH):
    value = content.get(key)
    if value is None:
        if required:
            raise ValidationError(f"content.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"content.{key}", "must be a string")
    if not value.strip():
        raise ValidationError(f"content.{key}", "must not be empty")
    if len(value) > limit:
        raise ValidationError(f"content.{key}", f"is longer than {limit} characters")
    return value


def _media(content: dict[str, Any]) -> None:
    url = _string(content, "url", required=False)
    media_id = _string(content, "media_id", required=False)
    if url is None and media_id is None:
        raise ValidationError("content.url", "url or media_id is required")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValidationError("content.url", "must be an http(s) URL")


# The keys each type may carry (the table above); anything else is refused, so a message
# cannot smuggle megabytes of extra keys into the database and on to the gateway.
KEYS: dict[MessageType, frozenset[str]] = {
    MessageType.TEXT: frozenset({"text"}),
    MessageType.IMAGE: frozenset({"url", "media_id"}),
    MessageType.FILE: frozenset({"url", "media_id", "filename"}),
    MessageType.LINK: frozenset({"title", "url", "description", "thumb_url"}),
    MessageType.MINIPROGRAM: frozenset({"appid", "title", "pagepath", "thumb_url",
                                        "thumb_media_id"}),
    MessageType.AT: frozenset({"mentions", "text"}),
}
MAX_CONTENT_BYTES = 32 * 1024  # 4000 characters of text are at most 16 KB of UTF-8


def validate_content(message_type: str | MessageType, content: Any) -> dict[str, Any]:
    """Return ``content`` if it is valid for ``message_type``; raise ValidationError naming
    the field otherwise."""
    mtype = parse_message_type(message_type)
    if not isinstance(content, dict):
        raise ValidationError("content", "must be a JSON object")
    for key in sorted(set(content) - KEYS[mtype], key=str):
        raise ValidationError(f"content.{key}", f"is not a field of a {mtype.value} message; "
                              f"allowed: {', '.join(sorted(KEYS[mtype]))}")
    json_value("content", content, max_bytes=MAX_CONTENT_BYTES)
    if mtype is MessageType.TEXT:
        _string(content, "text", required=True, limit=MAX_TEXT_LENGTH)
    elif mtype in (MessageType.IMAGE, MessageType.FILE):
        _media(content)
        if mtype is MessageType.FILE:
            _string(content, "filename", required=False, limit=255)
    elif mtype is MessageType.LINK:
        _string(content, "title", required=True, limit=512)
        url = _string(content, "url", required=True)
        if not url.startswith(("http://", "https://")):
            raise ValidationError("content.url", "must be an http(s) URL")
        _string(content, "description", required=False)
    elif mtype is MessageType.MINIPROGRAM:
        _string(content, "appid", required=True, limit=64)
        _string(content, "title", required=True, limit=512)
        _string(content, "pagepath", required=True)
        _string(content, "thumb_url", required=False)
        _string(content, "thumb_media_id", required=False)
    elif mtype is MessageType.AT:
        mentions = content.get("mentions")
        if mentions is None:
            raise ValidationError("content.mentions", "is required")
        if mentions != "all":
            if not isinstance(mentions, list) or not mentions:
                raise ValidationError(
                    "content.mentions", 'must be a non-empty list of user ids or "all"'
                )
            if len(mentions) > MAX_MENTIONS:
                raise ValidationError("content.mentions", f"at most {MAX_MENTIONS} mentions")
            for i, m in enumerate(mentions):
                if not isinstance(m, str) or not m.strip():
                    raise ValidationError(f"content.mentions[{i}]", "must be a non-empty string")
        _string(content, "text", required=False, limit=MAX_TEXT_LENGTH)
    return content
