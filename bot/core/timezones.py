"""Time-zone names: which IANA names are accepted and how links are normalised.

One rule set for ``/timezone``, onboarding and reading stored profiles:

* Accepted: the IANA names listed in the ``tzdata`` package's ``tzdata.zi`` (zones and links),
  matched case-insensitively (``asia/seoul`` is ``Asia/Seoul``). Nothing else — in particular
  never the server's own files: ``localtime`` (the server's zone), ``posixrules``,
  ``posix/…``, ``right/…`` (leap-second variants) and ``Factory`` are refused, as are path
  tricks. Data comes from the ``tzdata`` package that ships with the bot; no network.
* Links are normalised to their canonical zone (``Asia/Calcutta`` → ``Asia/Kolkata``,
  ``US/Eastern`` → ``America/New_York``), following link chains. Two exceptions, so that
  nobody is told they live somewhere else: a name that ``zone.tab`` lists as a country's own
  zone stays as it is (``Europe/Amsterdam`` is a link to ``Europe/Brussels`` in current tzdata,
  but it is the Netherlands' zone), and every spelling of UTC (``Etc/UTC``, ``Zulu``,
  ``Etc/Universal``, …) becomes plain ``UTC``.
* ``stored_timezone`` is the forgiving reader for data already in Redis: a link becomes its
  canonical zone, anything not accepted becomes the default zone.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import BotError, ErrorCode

__all__ = ["parse_timezone", "canonical_timezone", "stored_timezone", "UTC_NAME"]

UTC_NAME = "UTC"
#: Valid zic names that are never a person's time zone.
_REFUSED = frozenset({"factory", "localtime", "posixrules"})
_REFUSED_PREFIXES = ("posix/", "right/")
_MAX_LEN = 64


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(lower-case name -> proper name, proper name -> canonical name) from the tzdata package."""
    base = resources.files("tzdata") / "zoneinfo"
    zones: set[str] = set()
    links: dict[str, str] = {}
    for line in (base / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "Z":
            zones.add(parts[1])
        elif len(parts) >= 3 and parts[0] == "L":
            links[parts[2]] = parts[1]
    country_zones: set[str] = set()
    for line in (base / "zone.tab").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            if len(fields) >= 3:
                country_zones.add(fields[2])

    def resolve(name: str) -> str:
        seen = {name}
        while name in links and name not in zones:
            name = links[name]
            if name in seen:  # a loop would be broken data; stop where we are
                break
            seen.add(name)
        return name

    utc_target = resolve("UTC") if "UTC" in links else "Etc/UTC"
    canonical: dict[str, str] = {}
    for name in zones | set(links):
        if name.lower() in _REFUSED or name.lower().startswith(_REFUSED_PREFIXES):
            continue
        target = name if (name in zones or name in country_zones) else resolve(name)
        if target == utc_target or name == utc_target:
            target = UTC_NAME
        canonical[name] = target
    lower = {name.lower(): name for name in canonical}
    return lower, canonical


def canonical_timezone(name: str) -> str | None:
    """The canonical zone for an accepted IANA name (any case), or None when not accepted."""
    if not name or len(name) > _MAX_LEN:
        return None
    lower, canonical = _tables()
    proper = lower.get(name.strip().lower())
    if proper is None:
        return None
    target = canonical[proper]
    try:
        ZoneInfo(target)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return target


def parse_timezone(text: str) -> str:
    """What a user typed -> a canonical zone name; ``VALIDATION_ERROR`` for anything else."""
    name = text.strip()
    zone = canonical_timezone(name)
    if zone is None:
        raise BotError(ErrorCode.VALIDATION_ERROR, "profile.bad_timezone", value=name[:40])
    return zone


def stored_timezone(value: str | None, default: str) -> str:
    """A zone read from storage: normalised when it is a link, ``default`` when not accepted."""
    if not value:
        return default
    return canonical_timezone(value) or default
