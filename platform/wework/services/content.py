"""Message content, one model per message type.

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

Any other key is refused, so a message cannot smuggle megabytes of extra keys into the
database and on to the gateway; every string is bounded, so the content is too.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, model_validator

from wework.enums import MessageType
from wework.errors import ValidationError
from wework.services.fields import Input, OptionalText, Text, field_error, join, refuse

MAX_TEXT_LENGTH = 4000  # WeCom's limit for one text message (characters)
MAX_FIELD_LENGTH = 2048
MAX_MENTIONS = 200
MAX_USER_ID_LENGTH = 64  # a WeCom userid


def _http(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise refuse("must be an http(s) URL")
    return value


String = Text(MAX_FIELD_LENGTH)
OptionalString = OptionalText(MAX_FIELD_LENGTH)
Link = Text(MAX_FIELD_LENGTH, AfterValidator(_http))
OptionalLink = OptionalText(MAX_FIELD_LENGTH, AfterValidator(_http))


def _mentions(value: Any) -> Any:
    if value == "all":
        return value
    if not isinstance(value, list) or not value:
        raise refuse('must be a non-empty list of user ids or "all"')
    if len(value) > MAX_MENTIONS:
        raise refuse(f"at most {MAX_MENTIONS} mentions")
    for i, m in enumerate(value):
        if not isinstance(m, str) or not m.strip():
            raise refuse("must be a non-empty string", at=(i,))
        if len(m) > MAX_USER_ID_LENGTH:
            raise refuse(f"must be at most {MAX_USER_ID_LENGTH} characters", at=(i,))
    return value


class TextContent(Input):
    what = "a text message"
    text: Text(MAX_TEXT_LENGTH)


class ImageContent(Input):
    what = "an image message"
    url: OptionalLink = None
    media_id: OptionalString = None

    @model_validator(mode="after")
    def _url_or_media_id(self):
        if self.url is None and self.media_id is None:
            raise refuse("url or media_id is required", at=("url",))
        return self


class FileContent(ImageContent):
    what = "a file message"
    filename: OptionalText(255) = None


class LinkContent(Input):
    what = "a link message"
    title: Text(512)
    url: Link
    description: OptionalString = None
    thumb_url: OptionalString = None


class MiniprogramContent(Input):
    what = "a miniprogram message"
    appid: Text(64)
    title: Text(512)
    pagepath: String
    thumb_url: OptionalString = None
    thumb_media_id: OptionalString = None


class AtContent(Input):
    what = "an @-mention message"
    mentions: Annotated[Any, AfterValidator(_mentions)]
    text: OptionalText(MAX_TEXT_LENGTH) = None


MODELS: dict[MessageType, type[Input]] = {
    MessageType.TEXT: TextContent,
    MessageType.IMAGE: ImageContent,
    MessageType.FILE: FileContent,
    MessageType.LINK: LinkContent,
    MessageType.MINIPROGRAM: MiniprogramContent,
    MessageType.AT: AtContent,
}


def parse_message_type(value: str | MessageType, field: str = "message_type") -> MessageType:
    try:
        return MessageType(value)
    except ValueError:
        allowed = ", ".join(m.value for m in MessageType)
        raise ValidationError(field, f"unknown message type {value!r}; one of {allowed}") from None


def validate_content(message_type: str | MessageType, content: Any, *,
                     at: str = "") -> dict[str, Any]:
    """Return ``content`` as given if it is valid for ``message_type``; raise
    ValidationError naming the field (``content.<key>``, under ``at``) otherwise."""
    try:
        model = MODELS[MessageType(message_type)]
    except ValueError:
        parse_message_type(message_type, join(at, "message_type"))  # raises, naming it
    if not isinstance(content, dict):
        raise ValidationError(join(at, "content"), "must be a JSON object")
    try:
        model.model_validate(content)
    except pydantic.ValidationError as exc:
        raise field_error(exc, join(at, "content")) from None
    return content
