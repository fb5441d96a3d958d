"""Gateways to WeCom instances. The real WeCom gateway is outside this project;
:mod:`wework.gateway.simulator` is a SIMULATOR of one, used by the demo and the tests."""

from wework.gateway.base import (
    EventType,
    Gateway,
    NotifyType,
    SendRequest,
    SendResult,
    make_event,
)

__all__ = ["EventType", "Gateway", "NotifyType", "SendRequest", "SendResult", "make_event"]
