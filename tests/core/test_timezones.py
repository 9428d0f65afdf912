"""Time-zone names: IANA only, links normalised, the server's own files refused."""

from __future__ import annotations

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.timezones import canonical_timezone, parse_timezone, stored_timezone


@pytest.mark.parametrize("name,canonical", [
    ("Asia/Seoul", "Asia/Seoul"), ("asia/seoul", "Asia/Seoul"), (" Europe/London ", "Europe/London"),
    ("Asia/Calcutta", "Asia/Kolkata"), ("US/Eastern", "America/New_York"), ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("Europe/Kiev", "Europe/Kyiv"), ("ROK", "Asia/Seoul"), ("Japan", "Asia/Tokyo"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    # a country's own zone stays itself even where tzdata made it a link
    ("Europe/Amsterdam", "Europe/Amsterdam"), ("Europe/Oslo", "Europe/Oslo"),
    # every spelling of UTC is plain UTC
    ("UTC", "UTC"), ("Etc/UTC", "UTC"), ("Zulu", "UTC"), ("Etc/Universal", "UTC"), ("utc", "UTC"),
])
def test_accepted_names_and_their_canonical_zone(name: str, canonical: str) -> None:
    assert parse_timezone(name) == canonical


@pytest.mark.parametrize("name", [
    "localtime", "posixrules", "Factory", "factory", "right/UTC", "right/Asia/Seoul", "posix/Asia/Seoul",
    "Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Asia/Seoul/..", "Asia/" + "x" * 80, "+09:00",
])
def test_refused_names(name: str) -> None:
    with pytest.raises(BotError) as info:
        parse_timezone(name)
    assert info.value.code is ErrorCode.VALIDATION_ERROR and info.value.key == "profile.bad_timezone"
    assert canonical_timezone(name) is None


def test_stored_zones_are_normalised_or_replaced_by_the_default() -> None:
    assert stored_timezone("US/Eastern", "Asia/Seoul") == "America/New_York"
    assert stored_timezone("Asia/Tokyo", "Asia/Seoul") == "Asia/Tokyo"
    for bad in ("localtime", "posix/Asia/Tokyo", "right/UTC", "Factory", "nonsense", "", None):
        assert stored_timezone(bad, "Asia/Seoul") == "Asia/Seoul"
