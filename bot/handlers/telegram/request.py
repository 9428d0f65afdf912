"""PTB's HTTP transport on aiohttp: one session, keep-alive, a bounded number of calls in flight.

python-telegram-bot's stock transport (``HTTPXRequest``) spends most of a reply's CPU in
httpx/httpcore, which scans its whole connection pool on every request. ``AiohttpRequest``
implements ``telegram.request.BaseRequest`` on aiohttp (already shipped for the HTTP server):
one ``ClientSession`` per request object with a ``TCPConnector`` that keeps connections alive,
and a semaphore as the pool bound, so waiting for a free connection is a cheap FIFO wait.

Same contract as ``HTTPXRequest`` (PTB's ``BaseRequest.post`` maps HTTP statuses to its
exceptions — 400 BadRequest, 401/404 InvalidToken, 403 Forbidden, 409 Conflict, 429
RetryAfter, migrations ChatMigrated, others NetworkError — from what ``do_request``
returns; this module maps the transport's own failures):

- timeouts (defaults from the constructor, per-call overrides passed by PTB win; ``None`` =
  no limit): **pool** — waiting for one of ``connection_pool_size`` slots, ``TimedOut`` with
  "Pool timeout" (the request was not sent); **connect** — opening the TCP/TLS connection;
  **read** — between bytes of the answer, from the moment the request is written; **write** —
  aiohttp has no per-write timer, so a call is bounded as a whole by connect + write + read
  (uploads use ``media_write_timeout`` as their write part, as HTTPX does). Any of them →
  ``TimedOut``.
- other transport errors (refused, reset, DNS, a broken answer) → ``NetworkError`` naming
  the aiohttp exception class.
- bodies: form-urlencoded parameters, or ``multipart/form-data`` when files are uploaded (tarot
  cards as photos) — the same wire format as ``HTTPXRequest``.
- proxies from ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` as with httpx, looked up once per
  host (aiohttp's ``trust_env`` looks them up, and ``~/.netrc``, in a worker thread on every
  request: two thread hand-offs per call, a quarter of a reply's CPU).
- ``call_json``: the hot path (``sendMessage``, ``getUpdates``) without PTB's request objects: a
  JSON body, Telegram's ``result`` back, and the same exceptions PTB raises for the same
  answers (``telegram_error`` mirrors ``BaseRequest._request_wrapper``; a test holds the two
  side by side).

The session is created by ``initialize`` (or on first use, for a ``Bot`` that is never
initialised, like the refund-only Stars provider) and closed by ``shutdown``; a request
object belongs to one event loop. Stateless otherwise: nothing to recover after a crash.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Literal

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import (BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter,
                            TelegramError, TimedOut)
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from yarl import URL

__all__ = ["AiohttpRequest", "TRANSPORTS", "Transport", "make_request", "telegram_error"]

Transport = Literal["aiohttp", "httpx"]
TRANSPORTS: tuple[Transport, ...] = ("aiohttp", "httpx")

POOL_TIMEOUT_MESSAGE = ("Pool timeout: All connections in the connection pool are occupied. Request was *not* "
                        "sent to Telegram. Consider adjusting the connection pool size or the pool timeout.")
#: Idle keep-alive connections are closed after this long (Telegram keeps them much longer).
KEEPALIVE_SECONDS = 60.0
_JSON_HEADERS = {"Content-Type": "application/json"}


def telegram_error(code: int, payload: bytes) -> TelegramError:
    """The exception PTB's ``BaseRequest._request_wrapper`` raises for a non-2xx answer."""
    try:
        message = f"{HTTPStatus(code).phrase} ({code})"
    except ValueError:
        message = f"Unknown HTTPError ({code})"
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        message += f". Parsing the server response {payload!r} failed"
    else:
        message = data.get("description") or message
        parameters = data.get("parameters")
        if parameters:
            if migrate_to := parameters.get("migrate_to_chat_id"):
                return ChatMigrated(migrate_to)
            if retry_after := parameters.get("retry_after"):
                return RetryAfter(retry_after)
            message += f". The server response contained unknown parameters: {parameters}"
    if code == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if code in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        return InvalidToken(message)
    if code == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if code == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)


class AiohttpRequest(BaseRequest):
    """``telegram.request.BaseRequest`` on one aiohttp ``ClientSession`` (see the module doc).

    Arguments and defaults mirror ``HTTPXRequest``: ``connection_pool_size`` is the most calls
    in flight at once (and connections kept), the timeouts are seconds or ``None``.
    """

    __slots__ = ("_size", "_timeouts", "_media_write_timeout", "_session", "_slots", "_headers", "_proxies")

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._size = connection_pool_size
        self._timeouts = {"read": read_timeout, "write": write_timeout, "connect": connect_timeout,
                          "pool": pool_timeout}
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._headers = {"User-Agent": self.USER_AGENT}
        self._proxies: dict[tuple[str, str | None], dict[str, Any]] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    @property
    def connection_pool_size(self) -> int:
        return self._size

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._size, limit_per_host=self._size,
                                         keepalive_timeout=KEEPALIVE_SECONDS, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False, raise_for_status=False,
                                              timeout=aiohttp.ClientTimeout(total=None),
                                              cookie_jar=aiohttp.DummyCookieJar(), headers=self._headers)
        return self._session

    def _proxy(self, url: str) -> dict[str, Any]:
        """``proxy``/``proxy_auth`` for ``url``'s host from the environment, looked up once."""
        u = URL(url)
        key = (u.scheme, u.host)
        found = self._proxies.get(key)
        if found is None:
            try:
                proxy, auth = get_env_proxy_for_url(u)
                found = {"proxy": proxy, "proxy_auth": auth}
            except LookupError:
                found = {}
            self._proxies[key] = found
        return found

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._open()

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _timeout(self, read: ODVInput[float], write: ODVInput[float], connect: ODVInput[float],
                 upload: bool) -> aiohttp.ClientTimeout:
        r = self._timeouts["read"] if isinstance(read, DefaultValue) else read
        c = self._timeouts["connect"] if isinstance(connect, DefaultValue) else connect
        if isinstance(write, DefaultValue):
            w = self._media_write_timeout if upload else self._timeouts["write"]
        else:
            w = write
        total = None if r is None or w is None or c is None else r + w + c
        return aiohttp.ClientTimeout(total=total, connect=None, sock_connect=c, sock_read=r)

    @staticmethod
    def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str]]:
        if request_data is None:
            return None, {}
        files = request_data.multipart_data
        if not files:
            return (request_data.url_encoded_parameters().encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"})
        form = aiohttp.FormData(quote_fields=False)
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, (filename, content, mimetype) in files.items():
            form.add_field(name, content, filename=filename or name, content_type=mimetype)
        return form, {}

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One HTTP call: ``(status, body)``; ``TimedOut`` / ``NetworkError`` as in the module doc."""
        session = self._session
        if session is None or session.closed:
            session = self._open()
        body, headers = self._body(request_data)
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout,
                                upload=request_data is not None and bool(request_data.multipart_data))
        pool = self._timeouts["pool"] if isinstance(pool_timeout, DefaultValue) else pool_timeout
        return await self._send(session, method, url, body, headers, timeout, pool)

    async def _send(self, session: aiohttp.ClientSession, method: str, url: str, body: Any,
                    headers: dict[str, str], timeout: aiohttp.ClientTimeout, pool: float | None) -> tuple[int, bytes]:
        slots = self._slots
        if slots.locked():  # all slots busy: wait for one, at most the pool timeout
            try:
                async with asyncio.timeout(pool):
                    await slots.acquire()
            except TimeoutError:
                raise TimedOut(POOL_TIMEOUT_MESSAGE) from None
        else:
            await slots.acquire()
        try:
            async with session.request(method, url, data=body, headers=headers, timeout=timeout,
                                       allow_redirects=False, **self._proxy(url)) as resp:
                return resp.status, await resp.read()
        except TimeoutError as err:  # aiohttp's connect/read timeouts are TimeoutErrors too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
        finally:
            slots.release()

    async def call_json(self, url: str, params: dict[str, Any], *, read_timeout: float | None | DefaultValue[None]
                        = BaseRequest.DEFAULT_NONE) -> Any:
        """POST ``params`` as a JSON body to a Bot API method URL; its ``result``.

        The answer is not turned into PTB objects. Errors are PTB's (``telegram_error`` for an
        HTTP error answer, ``TimedOut``/``NetworkError`` for the transport's), so callers and
        ``bot.handlers.telegram_delivery`` treat both paths alike."""
        session = self._session
        if session is None or session.closed:
            session = self._open()
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        timeout = self._timeout(read_timeout, BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE, upload=False)
        code, payload = await self._send(session, "POST", url, body, _JSON_HEADERS, timeout, self._timeouts["pool"])
        if not 200 <= code <= 299:
            raise telegram_error(code, payload)
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise TelegramError("Invalid server response") from exc
        if not isinstance(data, dict) or not data.get("ok", False):
            raise TelegramError(str(data.get("description") if isinstance(data, dict) else data))
        return data.get("result")


def make_request(transport: Transport, *, connection_pool_size: int, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> BaseRequest:
    """The configured transport (``TELEGRAM_TRANSPORT``) with PTB's timeout defaults."""
    if transport == "httpx":
        return HTTPXRequest(connection_pool_size=connection_pool_size, read_timeout=read_timeout,
                            write_timeout=write_timeout, connect_timeout=connect_timeout,
                            pool_timeout=pool_timeout)
    if transport == "aiohttp":
        return AiohttpRequest(connection_pool_size=connection_pool_size, read_timeout=read_timeout,
                              write_timeout=write_timeout, connect_timeout=connect_timeout,
                              pool_timeout=pool_timeout)
    raise ValueError(f"unknown Telegram transport {transport!r} (use one of {', '.join(TRANSPORTS)})")
