"""Nothing personal reaches Sentry: birth dates, tokens and sensitive fields are scrubbed."""

from __future__ import annotations

from bot.sentry import scrub_event


def test_scrub_event_removes_dates_tokens_and_sensitive_fields() -> None:
    event = {
        "message": "profile update failed for 1990-05-17",
        "extra": {"birth": "1990-05-17", "telegram_token": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef012",
                  "note": "key sk-abcdefghijklmnop used", "count": 3},
        "breadcrumbs": {"values": [{"message": "set birth_date=2001-02-03"}]},
        "exception": {"values": [{"value": "bad date 1985-12-22"}]},
    }
    out = scrub_event(event)
    flat = repr(out)
    for secret in ("1990-05-17", "2001-02-03", "1985-12-22", "ABCDEFGHIJ", "sk-abcdefghijklmnop"):
        assert secret not in flat
    assert out["extra"]["birth"] == "[scrubbed]" and out["extra"]["telegram_token"] == "[scrubbed]"
    assert out["extra"]["count"] == 3 and "[date]" in out["message"]
