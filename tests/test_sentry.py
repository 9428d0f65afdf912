"""Nothing personal reaches the logs or Sentry.

User ids are keyed pseudonyms everywhere, a pairing never names both people, dates are
scrubbed in every common format, and one failure makes exactly one Sentry event. Sentry
runs for real with a transport that records envelopes instead of sending them.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from bot.core import pseudonym
from bot.core.errors import ErrorCode
from bot.core.logs import configure_logging, log_event
from bot.core.pseudonym import key_from_settings
from bot.core.redact import ID_FIELDS, scrub_text
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from bot.sentry import close_sentry, init_sentry, scrub_event
from tests.support.factory import make_core, onboard
from tests.support.factory import test_settings as settings_for

DSN = "https://public@o0.ingest.example.invalid/1"
PSEUDONYM = re.compile(r"u_[0-9a-f]{12}")
DATE_FORMATS = ["1990-05-17", "1990.05.17", "1990/05/17", "19900517", "1990년 5월 17일", "17.05.1990",
                "1990. 5. 17", "90년 5월 17일", "90-05-17", "May 17, 1990", "17 May 1990"]


class RecordingTransport(Transport):
    """A Sentry transport that keeps envelopes in memory (no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for e in (env.get_event() for env in self.envelopes) if e is not None]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The JSON log lines written while the test runs."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    root.handlers[:] = saved
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
async def sentry_core(redis_url: str, tmp_path: Path, log_stream: io.StringIO
                      ) -> AsyncIterator[tuple[Core, RecordingTransport]]:
    core = make_core(redis_url, tmp_path, sentry_dsn=DSN)
    transport = RecordingTransport()
    assert init_sentry(core.settings, transport=transport)
    sentry_sdk.get_isolation_scope().clear_breadcrumbs()
    try:
        yield core, transport
    finally:
        close_sentry()
        await core.store.close()


def _id_values(node: Any, under_id: bool = False) -> Iterator[Any]:
    """Every scalar found under an id-named key (``user``, ``account`` …) anywhere in ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _id_values(v, under_id or str(k).lower() in ID_FIELDS)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _id_values(v, under_id)
    elif under_id and node not in (None, ""):
        yield node


def assert_clean(blob: Any, raw_ids: tuple[str, ...] = ("tg:333", "tg:444")) -> None:
    text = json.dumps(blob, ensure_ascii=False, default=str)
    for raw in raw_ids:
        assert raw not in text
    for value in _id_values(blob):
        assert PSEUDONYM.fullmatch(str(value)) or value == "[hidden]", value
    for fmt in ("1990-05-17", "1991-03-21", "1990.05.17", "19900517"):
        assert fmt not in text


# --- pseudonyms ---------------------------------------------------------------------------

def test_pseudonym_key_comes_from_the_signing_secret(tmp_path: Path) -> None:
    a = key_from_settings(settings_for("redis://x", tmp_path))
    b = key_from_settings(settings_for("redis://x", tmp_path))
    other = key_from_settings(settings_for("redis://x", tmp_path, signing_secret="another-secret"))
    assert a == b != other and len(a) == 32
    assert key_from_settings(settings_for("redis://x", tmp_path, signing_secret="")) == pseudonym._PROCESS_KEY
    pseudonym.configure(a)
    p = pseudonym.pseudonym("tg:333")
    assert re.fullmatch(r"u_[0-9a-f]{12}", p) and pseudonym.pseudonym(p) == p
    pseudonym.configure(other)
    assert pseudonym.pseudonym("tg:333") != p  # keyed: without the key it cannot be recomputed


def test_every_id_field_is_pseudonymised_in_log_lines(log_stream: io.StringIO) -> None:
    pseudonym.configure(b"k" * 32)
    ids = {name: "tg:333" for name in ("user", "uid", "account", "inviter", "invitee", "partner", "payer",
                                       "owner", "other", "who", "payer_uid")}
    log_event("probe_ids", chat=333, client_ip="203.0.113.9", note="key profile:tg:333 missing", count=3, **ids)
    logging.getLogger("some.library").warning("user tg:333 did something")
    probe, library = lines(log_stream)
    expected = pseudonym.pseudonym("tg:333")
    for name in ids:
        assert probe[name] == expected
    assert probe["chat"] == pseudonym.pseudonym(333) and probe["client_ip"].startswith("u_")
    assert probe["note"] == f"key profile:{expected} missing" and probe["count"] == 3
    assert library["event"] == f"user {expected} did something"
    for rec in (probe, library):
        rec.pop("ts")  # a timestamp's milliseconds may read 333 by chance
    assert "333" not in json.dumps([probe, library], ensure_ascii=False).replace(expected, "")


@pytest.mark.parametrize("fmt", DATE_FORMATS)
def test_dates_are_scrubbed_from_log_lines_in_every_format(log_stream: io.StringIO, fmt: str) -> None:
    log_event("probe_date", note=f"born {fmt}!", nested={"list": [f"x {fmt}"]})
    try:
        raise ValueError(f"bad value {fmt}")
    except ValueError:
        log_event("probe_exc", level=logging.WARNING, exc_info=True)
    out = log_stream.getvalue()
    assert fmt not in out
    first, second = lines(log_stream)
    assert first["note"] == "born [date]!" and first["nested"] == {"list": ["x [date]"]}
    assert "bad value [date]" in second["exc"]


def test_the_date_scrubber_keeps_numbers_that_are_not_dates() -> None:
    assert scrub_text("ids 12345678 20231345 3.14 v2.10.1 ms=1735689600000") == \
        "ids 12345678 20231345 3.14 v2.10.1 ms=1735689600000"
    assert scrub_text("19000229 21010101 20000229") == "19000229 21010101 [date]"  # 1900 was not a leap year


def test_scrub_event_removes_dates_tokens_and_sensitive_fields() -> None:
    event = {
        "message": "profile update failed for 1990-05-17",
        "extra": {"birth": "1990-05-17", "telegram_token": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef012",
                  "note": "key sk-abcdefghijklmnop used", "count": 3, "fields": {"user": "tg:333"}},
        "user": {"id": "tg:333", "ip_address": "203.0.113.9"},
        "tags": {"payer": "333"},
        "breadcrumbs": {"values": [{"message": "set birth_date=2001-02-03 for tg:333",
                                    "data": {"fields": {"inviter": "tg:444"}}}]},
        "exception": {"values": [{"value": "bad date 1985.12.22 / 19851222"}]},
    }
    out = scrub_event(event)
    flat = repr(out)
    for secret in ("1990-05-17", "2001-02-03", "1985.12.22", "19851222", "ABCDEFGHIJ", "sk-abcdefghijklmnop",
                   "tg:333", "tg:444", "203.0.113.9", "'333'"):
        assert secret not in flat
    assert out["extra"]["birth"] == "[scrubbed]" and out["extra"]["telegram_token"] == "[scrubbed]"
    assert out["extra"]["count"] == 3 and "[date]" in out["message"]
    assert PSEUDONYM.fullmatch(out["extra"]["fields"]["user"]) and PSEUDONYM.fullmatch(out["user"]["id"])
    assert_clean(out)


# --- Sentry, for real ----------------------------------------------------------------------

async def test_a_failing_command_makes_one_clean_sentry_event(sentry_core: tuple[Core, RecordingTransport],
                                                             log_stream: io.StringIO) -> None:
    core, transport = sentry_core
    await onboard(core, "tg:333")
    # Corrupt stored data makes the real command path fail; the error text names the user and a date.
    aid = await core.accounts.resolve("tg:333")
    await core.store.redis.hset(K.profile(aid), "created", "tg:333 born 1990-05-17")
    replies = await core.router.handle(Event("tg", "333", "/credits", chat_id="333", lang_hint="ko"))
    assert replies[0].error is ErrorCode.INTERNAL_ERROR
    ref = re.search(r"[0-9a-f]{8}", replies[0].text)
    assert ref is not None
    events = transport.events
    assert len(events) == 1, [e.get("logger") for e in events]  # not also one from the log line
    event = events[0]
    assert event["tags"]["ref"] == ref.group(0) and event["exception"]["values"][0]["type"] == "ValueError"
    assert_clean(event)
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("message") == "command_failed"]
    assert crumbs and crumbs[0]["data"]["fields"]["user"] == pseudonym.pseudonym("tg:333")
    failed = next(line for line in lines(log_stream) if line["event"] == "command_failed")
    assert failed["user"] == pseudonym.pseudonym("tg:333") and failed["ref"] == ref.group(0)
    assert "1990-05-17" not in log_stream.getvalue() and "tg:333" not in log_stream.getvalue()


async def test_an_error_log_line_alone_still_makes_one_event(sentry_core: tuple[Core, RecordingTransport]) -> None:
    _, transport = sentry_core
    try:
        raise RuntimeError("grant failed for tg:333 (19900517)")
    except RuntimeError:
        log_event("payment_grant_failed", level=logging.CRITICAL, exc_info=True, user="tg:333", amount=5)
    events = transport.events
    assert len(events) == 1
    assert events[0]["extra"]["fields"]["user"] == pseudonym.pseudonym("tg:333")
    assert_clean(events[0])


@pytest.mark.parametrize("fmt", DATE_FORMATS)
async def test_dates_never_reach_sentry(sentry_core: tuple[Core, RecordingTransport], fmt: str) -> None:
    _, transport = sentry_core
    log_event("profile_note", note=f"birthday {fmt}")  # a breadcrumb
    try:
        raise ValueError(f"cannot parse {fmt}")
    except ValueError:
        log_event("profile_parse_failed", level=logging.ERROR, exc_info=True, detail=f"input {fmt}")
    sentry_sdk.capture_message(f"probe {fmt}")
    events = transport.events
    assert len(events) == 2
    blob = json.dumps(events, ensure_ascii=False, default=str)
    assert fmt not in blob and blob.count("[date]") >= 4


async def test_a_pairing_never_names_both_sides(sentry_core: tuple[Core, RecordingTransport],
                                                log_stream: io.StringIO) -> None:
    core, transport = sentry_core
    a333, a444 = await core.accounts.resolve("tg:333"), await core.accounts.resolve("tg:444")
    await onboard(core, a333, birth=date(1990, 5, 17), bonus=False)
    await onboard(core, a444, birth=date(1991, 3, 21), bonus=False)
    invite = await core.invites.issue(a333)
    before = await core.ledger.balance(a333)
    sentry_sdk.get_isolation_scope().clear_breadcrumbs()
    log_stream.truncate(0)
    log_stream.seek(0)
    join = Event("tg", "444", f"/join {invite.token}", chat_id="444", lang_hint="ko")
    replies = await core.router.handle(join)
    assert replies[0].error is None
    assert await core.ledger.balance(a333) > before  # the pairing really happened (inviter rewarded)
    assert await core.invites.is_paired(a333, a444)

    inviter, invitee = pseudonym.pseudonym("tg:333"), pseudonym.pseudonym("tg:444")
    request = [line for line in lines(log_stream) if line.get("request_id") == join.request_id]
    assert {line["event"] for line in request} >= {"invite_paired", "credits_granted", "command_handled"}
    seen = set(PSEUDONYM.findall(json.dumps(request)))
    assert seen == {invitee}  # named once, by command_handled; never the inviter
    paired = next(line for line in request if line["event"] == "invite_paired")
    assert set(paired) <= {"ts", "level", "event", "request_id", "new_pair", "resumed"}
    assert all(line.get("account") == "[hidden]" for line in request if line["event"] == "credits_granted")

    sentry_sdk.capture_message("after pairing")
    (event,) = transport.events
    crumbs = event["breadcrumbs"]["values"]
    assert any(c.get("message") == "invite_paired" for c in crumbs)
    blob = json.dumps(event, default=str)
    assert inviter not in blob  # no breadcrumb of the pairing names the inviter
    assert a333 not in blob and pseudonym.pseudonym(a333) not in blob
    assert_clean(event)


def test_ids_and_dates_used_as_dictionary_keys_are_redacted() -> None:
    from bot.core.redact import redact_fields

    pseudonym.configure(b"k" * 32)
    out = redact_fields({"counts": {"tg:333": 1, "1990-05-17": 2}})
    assert out == {"counts": {pseudonym.pseudonym("tg:333"): 1, "[date]": 2}}
