"""The aiohttp transport for PTB (``bot/handlers/telegram/request.py``) against the fake Bot API.

The real ``telegram.Bot`` drives the transport; the mapping tests run on both transports
(``aiohttp`` and PTB's stock ``httpx``) to show they raise the same exceptions.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from telegram import Bot
from telegram.error import (BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter,
                            TelegramError, TimedOut)
from telegram.request import BaseRequest

from bot.handlers.telegram.request import AiohttpRequest, make_request, telegram_error
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHAT = 4242
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # ~10 KB of "image"


def bot_for(api: FakeTelegramAPI, request: BaseRequest, token: str | None = None) -> Bot:
    return Bot(token or api.token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot", request=request)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_messages_and_keep_alive(api: FakeTelegramAPI) -> None:
    request = AiohttpRequest(connection_pool_size=4)
    async with bot_for(api, request) as bot:
        me = await bot.get_me()
        assert me.username == api.username
        for i in range(5):
            msg = await bot.send_message(CHAT, f"안녕 {i}", reply_markup=None)
            assert msg.text == f"안녕 {i}" and msg.chat.id == CHAT
        [call] = api.calls_to("sendMessage", text="안녕 3")
        assert call["chat_id"] == CHAT  # form-encoded like httpx: the fake parses it back to an int
        connector = request._session.connector if request._session else None
        assert connector is not None and connector.limit == 4
        # Sequential calls reuse one kept-alive connection instead of opening one per call.
        assert sum(len(v) for v in connector._conns.values()) == 1
    assert request._session is None  # shut down with the bot


async def test_photo_upload_is_multipart(api: FakeTelegramAPI, transport: str) -> None:
    async with bot_for(api, make_request(transport, connection_pool_size=2)) as bot:  # type: ignore[arg-type]
        msg = await bot.send_photo(CHAT, photo=PNG, caption="오늘의 카드 🌙", filename="card.png")
    assert msg.photo and msg.caption == "오늘의 카드 🌙"
    [call] = api.calls_to("sendPhoto")
    photo = call.files["photo"]
    assert photo["data"] == PNG and photo["size"] == len(PNG)
    assert photo["content_type"] == "image/png" and photo["filename"] == "card.png"
    assert call["caption"] == "오늘의 카드 🌙" and call["chat_id"] == CHAT


async def test_http_errors_map_like_ptb(api: FakeTelegramAPI, transport: str) -> None:
    async with bot_for(api, make_request(transport, connection_pool_size=2)) as bot:  # type: ignore[arg-type]
        api.lose_chat(1)
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(1, "x")
        api.block_chat(2)
        with pytest.raises(Forbidden, match="(?i)blocked"):
            await bot.send_message(2, "x")
        api.fail_next("sendMessage", retry_after=7)
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(3, "x")
        assert "7" in str(retry.value)
        api.fail_next("sendMessage", code=409, description="Conflict: terminated by other getUpdates request")
        with pytest.raises(Conflict):
            await bot.send_message(3, "x")
        api.fail_next("sendMessage", code=500, description="Internal Server Error")
        with pytest.raises(NetworkError) as server:
            await bot.send_message(3, "x")
        assert type(server.value) is NetworkError
    with pytest.raises(InvalidToken):
        async with bot_for(api, make_request(transport, connection_pool_size=1),  # type: ignore[arg-type]
                           token="999:wrong-token") as other:
            await other.get_me()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connection_is_network_error(transport: str) -> None:
    request = make_request(transport, connection_pool_size=1)  # type: ignore[arg-type]
    port = closed_port()
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    with pytest.raises(NetworkError) as err:
        await bot.send_message(CHAT, "x")
    assert not isinstance(err.value, TimedOut)
    await request.shutdown()


async def test_read_timeout_default_and_per_call(api: FakeTelegramAPI, transport: str) -> None:
    request = make_request(transport, connection_pool_size=2, read_timeout=0.2)  # type: ignore[arg-type]
    assert request.read_timeout == 0.2
    async with bot_for(api, request) as bot:
        api.latency = 0.6
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "slow")
        assert time.monotonic() - started < 0.55
        msg = await bot.send_message(CHAT, "patient", read_timeout=2.0)  # PTB's per-call override
        assert msg.text == "patient"


@pytest.fixture
def unaccepting_server() -> Iterator[int]:
    """A listening socket whose accept queue is full: new connects hang (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        server.close()


async def test_connect_timeout(unaccepting_server: int, transport: str) -> None:
    request = make_request(transport, connection_pool_size=1, connect_timeout=0.3)  # type: ignore[arg-type]
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{unaccepting_server}/bot", request=request)
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "x")
    assert time.monotonic() - started < 2.5
    await request.shutdown()


async def test_pool_bound_and_pool_timeout(api: FakeTelegramAPI) -> None:
    api.latency = 0.25
    request = AiohttpRequest(connection_pool_size=2, pool_timeout=None)
    async with bot_for(api, request) as bot:
        await bot.get_me()
        first = len(api.calls)
        await asyncio.gather(*(bot.send_message(CHAT, f"m{i}") for i in range(6)))
        arrivals = sorted(c.at for c in api.calls[first:])
        assert len(arrivals) == 6
        # At most two at the server at once: each pair arrives a full answer later than the last.
        assert arrivals[2] - arrivals[0] >= 0.2 and arrivals[4] - arrivals[2] >= 0.2
    # A finite pool timeout: a call that cannot get a slot in time is not sent at all.
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.05)
    async with bot_for(api, request) as bot:
        before = len(api.calls_to("sendMessage"))
        slow = asyncio.ensure_future(bot.send_message(CHAT, "holds the slot"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await bot.send_message(CHAT, "waits too long")
        await slow
        assert [c["text"] for c in api.calls_to("sendMessage")[before:]] == ["holds the slot"]
        # Per-call override: this one waits for the slot and goes out.
        slow = asyncio.ensure_future(bot.send_message(CHAT, "again holds it"))
        await asyncio.sleep(0.05)
        assert (await bot.send_message(CHAT, "waits", pool_timeout=2.0)).text == "waits"
        await slow


def test_timeouts_follow_httpx_defaults() -> None:
    request = AiohttpRequest(read_timeout=5.0, write_timeout=5.0, connect_timeout=4.0)
    plain = request._timeout(BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE,
                             upload=False)
    assert (plain.sock_read, plain.sock_connect, plain.total) == (5.0, 4.0, 14.0)
    upload = request._timeout(BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE,
                              upload=True)
    assert upload.total == 5.0 + 20.0 + 4.0  # uploads get the media write timeout, as with httpx
    unbounded = request._timeout(None, 1.0, 1.0, upload=False)
    assert unbounded.sock_read is None and unbounded.total is None
    with pytest.raises(ValueError):
        make_request("curl", connection_pool_size=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AiohttpRequest(connection_pool_size=0)


async def test_works_without_initialize(api: FakeTelegramAPI) -> None:
    """The refund-only Stars provider calls a Bot it never initialised."""
    request = AiohttpRequest(connection_pool_size=1)
    bot = bot_for(api, request)
    api.charges["stxNOINIT"] = CHAT
    assert await bot.refund_star_payment(CHAT, "stxNOINIT") is True
    assert api.calls_to("refundStarPayment")[0]["telegram_payment_charge_id"] == "stxNOINIT"
    await request.shutdown()
    await request.shutdown()  # twice is harmless


class _Canned(BaseRequest):
    """PTB's own ``_request_wrapper`` fed a canned answer: the reference for ``telegram_error``."""

    def __init__(self, code: int, payload: bytes) -> None:
        self.answer = (code, payload)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        return self.answer


@pytest.mark.parametrize(("code", "payload"), [
    (400, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'),
    (403, b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}'),
    (401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}'),
    (404, b'{"ok":false,"error_code":404,"description":"Not Found"}'),
    (409, b'{"ok":false,"description":"Conflict: terminated by other getUpdates request"}'),
    (429, b'{"ok":false,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}'),
    (400, b'{"ok":false,"description":"Bad Request: group chat was upgraded","parameters":{"migrate_to_chat_id":-100123}}'),
    (400, b'{"ok":false,"description":"odd","parameters":{"something":1}}'),
    (500, b'{"ok":false,"description":"Internal Server Error"}'),
    (502, b"<html>bad gateway</html>"),
    (418, b""),
    (599, b"{}"),
])
async def test_telegram_error_is_ptbs_mapping(code: int, payload: bytes) -> None:
    """The direct JSON path raises exactly what PTB raises for the same HTTP answer."""
    with pytest.raises(TelegramError) as ptb:
        await _Canned(code, payload)._request_wrapper("http://x/botT/sendMessage", "POST")
    ours = telegram_error(code, payload)
    assert type(ours) is type(ptb.value)
    assert str(ours) == str(ptb.value)
    if isinstance(ours, RetryAfter):
        assert ours.retry_after == ptb.value.retry_after  # type: ignore[attr-defined]
    if isinstance(ours, ChatMigrated):
        assert ours.new_chat_id == ptb.value.new_chat_id  # type: ignore[attr-defined]


async def test_call_json_sends_a_json_body_and_raises_ptbs_errors(api: FakeTelegramAPI) -> None:
    request = AiohttpRequest(connection_pool_size=2)
    url = f"{api.url}/bot{api.token}/"
    try:
        markup = {"inline_keyboard": [[{"text": "타로 보기", "callback_data": "/tarot"}]]}
        sent = await request.call_json(url + "sendMessage", {"chat_id": CHAT, "text": "오늘의 운세 🌙",
                                                             "reply_markup": markup})
        assert sent["text"] == "오늘의 운세 🌙" and sent["chat"]["id"] == CHAT
        [call] = api.calls_to("sendMessage", text="오늘의 운세 🌙")
        assert call["chat_id"] == CHAT and call["reply_markup"] == markup
        api.lose_chat(5)
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await request.call_json(url + "sendMessage", {"chat_id": 5, "text": "x"})
        api.fail_next("sendMessage", retry_after=3)
        with pytest.raises(RetryAfter):
            await request.call_json(url + "sendMessage", {"chat_id": CHAT, "text": "x"})
        assert await request.call_json(url + "getUpdates", {"timeout": 0}) == []
    finally:
        await request.shutdown()
