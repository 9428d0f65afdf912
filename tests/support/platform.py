"""A recording platform sender: the network edge of core-level tests.

Core tests that have no platform adapter register this as the platform's sender, so the
outbox and ``core.notify`` deliver into a list instead of a chat service. ``fail`` scripts
failures by exception (``bot.core.delivery`` errors), the same contract real senders keep.
Adapter-level behaviour is tested against the fake Bot API (``tests/fakes/telegram_api.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.reply import Reply
from bot.core.service import Core

__all__ = ["RecordingPlatform"]


@dataclass
class RecordingPlatform:
    sent: list[tuple[str, Reply]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    attempts: int = 0

    @classmethod
    def install(cls, core: Core, platform: str = "tg") -> RecordingPlatform:
        rec = cls()
        core.register_sender(platform, rec.send)
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
