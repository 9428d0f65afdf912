"""YAML for the content files (locales, fortune, tarot, 사주, prompts): one safe loader.

libyaml's ``CSafeLoader`` when PyYAML was built with it (the wheels are): parsing every
content file with the pure-Python loader was most of the console's time to its first reply.
Same safe subset either way (no Python objects from YAML tags).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["safe_load", "LOADER"]

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with the fastest safe loader available."""
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a SafeLoader (C or Python)
