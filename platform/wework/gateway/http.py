"""The WeCom instance gateway over HTTP (``WEWORK_GATEWAY_URL``).

The gateway's send API, as this platform uses it (and ``wework gateway-sim serve``
implements)::

    POST {WEWORK_GATEWAY_URL}/v1/messages
    Idempotency-Key: <messages.id>
    Authorization: Bearer <WEWORK_GATEWAY_TOKEN>       (when the token is set)
    {"message_id", "guid", "conversation_id", "message_type", "content"}

    200 {"wework_msg_id": "..."}                       accepted (a receipt follows)
    401 / 403                                          our token is refused: a setting
                                                       to fix, not the message's fault
    4xx {"error": {"code": "...", "message": "..."}}   refused: retrying cannot help
    5xx / 408 / 425 / 429 {"error": {...}}              not now: try again later

:class:`HttpGateway` sends with one urllib3 connection pool (keep-alive connections,
connect and read timeouts). urllib3 rather than httpx (which the rest of the platform
uses): a send is one small request on a hot path, and urllib3 spends 0.26 ms of client
CPU on it where httpx spends 0.60 ms (measured on this machine against a bare uvicorn
endpoint) — the worker's largest cost per message after the database.

A send is retried in the call, with exponential backoff and jitter (tenacity), after a
timeout, a connection error, 5xx, 408, 425 or 429 — but only because every request
carries the message id as ``Idempotency-Key``: a gateway that received a send whose
answer was lost delivers it once and answers the retry with the first answer. A
``Retry-After`` longer than the in-call backoff ends the call at once. When the tries are used
up the send is a retryable failure (the dispatcher's own backoff takes over); a 4xx is a
final failure with the gateway's code and reason — except 401 and 403, which say the
platform's token is wrong or missing: those sends stay retryable (not retried in the
call), so fixing WEWORK_GATEWAY_TOKEN lets them go out.
"""

from __future__ import annotations

import json

import urllib3
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from wework.config import Settings
from wework.gateway.base import SendRequest, SendResult

SEND_PATH = "/v1/messages"
RETRY_STATUS = frozenset({408, 425, 429})
AUTH_STATUS = frozenset({401, 403})
ERROR_CODE_LENGTH = 50  # messages.error_code
ERROR_MESSAGE_LENGTH = 1000


class _NotNow(Exception):
    """A transient failure: worth another try (``defer``: not within this call)."""

    def __init__(self, code: str, reason: str, defer: bool = False):
        self.code = code
        self.reason = reason
        self.defer = defer
        super().__init__(f"{code}: {reason}")


class HttpGateway:
    """:class:`~wework.gateway.base.Gateway` over HTTP (module docstring). Thread-safe:
    the dispatcher's send threads share one instance and its connection pool."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        attempts: int = 3,
        max_connections: int = 32,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        token: str | None = None,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # One pool for the gateway's host (http or https); at most max_connections at
        # once, a send thread beyond them waits for a free one (block=True).
        self._pool = urllib3.connection_from_url(
            self.base_url, maxsize=max_connections, block=True,
            timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
            retries=False,  # tenacity retries, with backoff, only what may be retried
        )
        self._path = urllib3.util.parse_url(self.base_url).path or ""
        self._headers = {"User-Agent": "wework-platform",
                         "Content-Type": "application/json",
                         **({"Authorization": f"Bearer {token}"} if token else {})}

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpGateway:
        if not settings.gateway_url:
            raise ValueError("WEWORK_GATEWAY_URL is not set")
        return cls(
            settings.gateway_url,
            timeout=settings.gateway_timeout_seconds,
            connect_timeout=settings.gateway_connect_timeout_seconds,
            attempts=settings.gateway_attempts,
            max_connections=settings.gateway_max_connections,
            token=settings.gateway_token,
        )

    def send(self, request: SendRequest) -> SendResult:
        payload = {
            "message_id": request.message_id,
            "guid": request.guid,
            "conversation_id": request.conversation_id,
            "message_type": request.message_type,
            "content": request.content,
        }
        headers = {"Idempotency-Key": request.message_id}
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max,
                                         jitter=self.backoff_initial),
            retry=retry_if_exception(lambda e: isinstance(e, _NotNow) and not e.defer),
            reraise=True,
        )
        try:
            return retrying(self._send_once, payload, headers)
        except _NotNow as exc:
            return SendResult(False, None, exc.code[:ERROR_CODE_LENGTH],
                              exc.reason[:ERROR_MESSAGE_LENGTH], retryable=True)

    def _send_once(self, payload: dict, headers: dict[str, str]) -> SendResult:
        try:
            response = self._pool.urlopen(
                "POST", self._path + SEND_PATH,
                body=json.dumps(payload, ensure_ascii=False).encode(),
                headers={**self._headers, **headers}, redirect=False)
        except urllib3.exceptions.NewConnectionError as exc:  # (a ConnectTimeoutError too)
            raise _NotNow("gateway_unreachable",
                          f"cannot reach the gateway ({type(exc).__name__})") from None
        except urllib3.exceptions.TimeoutError as exc:
            raise _NotNow("gateway_timeout",
                          f"no answer from the gateway in time ({type(exc).__name__})") from None
        except urllib3.exceptions.HTTPError as exc:
            raise _NotNow("gateway_unreachable",
                          f"cannot reach the gateway ({type(exc).__name__})") from None
        status = response.status
        if 200 <= status < 300:
            body = _json(response)
            wework_msg_id = body.get("wework_msg_id") if isinstance(body, dict) else None
            return SendResult(True, wework_msg_id if isinstance(wework_msg_id, str) else None)
        code, reason = _error_of(response)
        if status in AUTH_STATUS:
            raise _NotNow(f"gateway_{status}", f"the gateway refused the platform's token "
                          f"(WEWORK_GATEWAY_TOKEN): {reason}", defer=True)
        if status >= 500 or status in RETRY_STATUS:
            raise _NotNow(code, reason, defer=_retry_after(response) > self.backoff_max)
        return SendResult(False, None, code[:ERROR_CODE_LENGTH], reason, retryable=False)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> HttpGateway:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json(response: urllib3.BaseHTTPResponse) -> object:
    try:
        return json.loads(response.data)
    except ValueError:  # not JSON, or not UTF-8
        return None


def _error_of(response: urllib3.BaseHTTPResponse) -> tuple[str, str]:
    """The gateway's error code and reason, or the HTTP status when it gave none."""
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    code = code if isinstance(code, str) and code else f"http_{response.status}"
    if not isinstance(message, str) or not message:
        message = f"gateway answered HTTP {response.status} {response.reason or ''}".rstrip()
    return code, message[:ERROR_MESSAGE_LENGTH]


def _retry_after(response: urllib3.BaseHTTPResponse) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 0.0  # absent, or an HTTP date: back off as usual
