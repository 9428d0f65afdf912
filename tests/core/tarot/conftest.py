from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core.tarot import TarotEngine
from bot.core.tarot.loader import DATA_DIR

MINOR_MISSING = "minor.yaml (the 56 minor arcana, written separately) is not in bot/core/tarot/data yet"


@pytest.fixture(scope="session")
def engine() -> TarotEngine:
    return TarotEngine.load()


@pytest.fixture(scope="session")
def full_engine(engine: TarotEngine) -> TarotEngine:
    if not engine.full_deck:
        pytest.skip(MINOR_MISSING)
    return engine


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped data directory."""
    dst = tmp_path / "data"
    shutil.copytree(DATA_DIR, dst)
    return dst
