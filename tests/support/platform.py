"""A recording platform sender: the network edge of core-level tests.

Core tests that have no platform adapter register this as the platform's sender, so the
outbox and ``core.notify`` deliver into a list instead of a chat service. ``fail`` scripts
failures by exception (``bot.core.delivery`` errors), the same contract real senders keep.
Adapter-level behaviour is tested against the fake Bot API (``tests/fakes/telegram_api.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.platforms import PlatformLink
from bot.core.reply import Reply
from bot.core.service import Core

__all__ = ["RecordingPlatform"]


@dataclass
class RecordingPlatform:
    sent: list[tuple[str, Reply]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    attempts: int = 0

    @classmethod
    def install(cls, core: Core, platform: str = "tg", username: str = "") -> RecordingPlatform:
        rec = cls()
        core.register_platform(PlatformLink(platform, rec.send, username=username))
        return rec

    async def send(self, target: str, reply: Reply, **_: object) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((target, reply))

    def fail(self, *errors: BaseException) -> None:
        self.failures.extend(errors)

    def to(self, target: str) -> list[Reply]:
        return [r for t, r in self.sent if t == target]

    def take(self, target: str) -> list[Reply]:
        out = self.to(target)
        self.sent = [(t, r) for t, r in self.sent if t != target]
        return out


async def handle_delivered(core: Core, event: object, timeout: float = 10.0) -> list[Reply]:
    """Handle one event and return what the user ends up with: the direct replies, with the
    "reading the cards…" note replaced by the answer the outbox delivered (a paid answer)."""
    rec: RecordingPlatform | None = getattr(core, "_test_platform", None)
    if rec is None:
        rec = RecordingPlatform.install(core, getattr(event, "platform", "tg"))
        core._test_platform = rec  # type: ignore[attr-defined]
    from bot.core.errors import ServiceUnavailable

    replies = await core.router.handle(event)  # type: ignore[arg-type]
    try:
        assert await core.outbox.drain(timeout)
    except ServiceUnavailable:  # Redis is down in this test: nothing can be queued either
        pass
    delivered = rec.take(getattr(event, "user_id", ""))
    if delivered:
        replies = [r for r in replies if "🔮" not in r.text]
    return replies + delivered
