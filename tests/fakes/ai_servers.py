"""Fake OpenAI and Anthropic HTTP servers (aiohttp on 127.0.0.1) speaking the real wire format.

``POST /v1/chat/completions`` answers like OpenAI's Chat Completions API and
``POST /v1/messages`` like Anthropic's Messages API, with the real response and error JSON
shapes, so the real SDKs can be pointed at them through ``base_url``.

Programmable per test: ``server.then(b1, b2, ...)`` queues behaviours for the next requests,
``server.always(b)`` sets the default. Behaviours: ``answer(text)``, ``status(500)``,
``hang()``, ``rate_limited(retry_after)``, ``unauthorized()``, ``bad_request()``, ``html()``,
``overloaded()`` (Anthropic 529). Every request's JSON body and headers are recorded in
``server.requests``. ``hang()`` holds the request until ``stop()`` (or 60 s), so no test waits
on it beyond its own deadline.

    async with FakeAI("openai") as oa, FakeAI("anthropic") as an:
        oa.then(status(500)); an.always(answer("hi"))
        AsyncOpenAI(base_url=oa.base_url, ...)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from collections.abc import Callable

from aiohttp import web

__all__ = ["FakeAI", "Behaviour", "answer", "status", "hang", "rate_limited", "unauthorized", "bad_request",
           "html", "overloaded", "Recorded"]

Flavour = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class Behaviour:
    kind: str  # answer | status | hang | html
    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reply: Callable[[dict[str, Any]], str] | None = None  # computes the answer from the request body


def answer(text: str | None = None, *, delay: float = 0.0,
           reply: Callable[[dict[str, Any]], str] | None = None) -> Behaviour:
    return Behaviour("answer", text=text, delay=delay, reply=reply)


def status(code: int, **headers: str) -> Behaviour:
    return Behaviour("status", status=code, headers={k.replace("_", "-"): v for k, v in headers.items()})


def hang() -> Behaviour:
    return Behaviour("hang")


def rate_limited(retry_after: float | None = None) -> Behaviour:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return Behaviour("status", status=429, headers=headers)


def unauthorized() -> Behaviour:
    return Behaviour("status", status=401)


def bad_request() -> Behaviour:
    return Behaviour("status", status=400)


def overloaded() -> Behaviour:
    return Behaviour("status", status=529)


def html(code: int = 200) -> Behaviour:
    return Behaviour("html", status=code)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


_ids = itertools.count(1)

_OPENAI_ERRORS = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("invalid_request_error", "Incorrect API key provided"),
    403: ("invalid_request_error", "Forbidden"),
    408: ("server_error", "Request timed out"),
    409: ("server_error", "Conflict"),
    429: ("rate_limit_exceeded", "Rate limit reached"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 408: "timeout_error", 409: "conflict_error", 413: "request_too_large",
    429: "rate_limit_error", 529: "overloaded_error",
}


class FakeAI:
    def __init__(self, flavour: Flavour, default_text: str | None = None) -> None:
        self.flavour = flavour
        self.default = answer(default_text or f"{flavour} says hello")
        self.queue: deque[Behaviour] = deque()
        self.requests: list[Recorded] = []
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- programming -----------------------------------------------------------------------
    def then(self, *behaviours: Behaviour) -> FakeAI:
        self.queue.extend(behaviours)
        return self

    def always(self, behaviour: Behaviour) -> FakeAI:
        self.queue.clear()
        self.default = behaviour
        return self

    def reset(self) -> None:
        self.queue.clear()
        self.requests.clear()

    @property
    def hits(self) -> int:
        return len(self.requests)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` should be (OpenAI's includes ``/v1``)."""
        return self.url + "/v1" if self.flavour == "openai" else self.url

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> FakeAI:
        app = web.Application()
        path = "/v1/chat/completions" if self.flavour == "openai" else "/v1/messages"
        app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAI:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # --- serving -----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        self.requests.append(Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, body,
                                     time.monotonic()))
        b = self.queue.popleft() if self.queue else self.default
        if b.kind == "hang":
            try:
                await asyncio.wait_for(self._stop.wait(), 60)
            except TimeoutError:
                pass
            return web.Response(status=504, text="gateway timeout")
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.kind == "html":
            return web.Response(status=b.status, content_type="text/html",
                                text="<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                                     "<body><h1>Bad Gateway</h1></body></html>")
        if b.kind == "status":
            return web.json_response(self._error_body(b.status), status=b.status, headers=b.headers)
        text = b.reply(body) if b.reply else (b.text or "")
        return web.json_response(self._answer_body(body, text))

    def _answer_body(self, req: dict[str, Any], text: str) -> dict[str, Any]:
        n = next(_ids)
        model = str(req.get("model") or "unknown")
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 + 1 for m in req.get("messages", []))
        out_tokens = len(text) // 4 + 1
        if self.flavour == "openai":
            return {
                "id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": int(time.time()),
                "model": model + "-2024-07-18", "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": out_tokens,
                          "total_tokens": prompt_tokens + out_tokens},
            }
        return {
            "id": f"msg_fake{n:020d}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": out_tokens},
        }

    def _error_body(self, code: int) -> dict[str, Any]:
        if self.flavour == "openai":
            etype, msg = _OPENAI_ERRORS.get(code, ("server_error", "The server had an error"))
            return {"error": {"message": msg, "type": etype, "param": None, "code": None}}
        etype = _ANTHROPIC_ERRORS.get(code, "api_error")
        return {"type": "error", "error": {"type": etype, "message": etype.replace("_", " ")}}
