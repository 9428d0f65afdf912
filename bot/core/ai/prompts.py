"""System prompts from ``prompts.yaml`` (Korean and English), validated once at load.

``system_prompt(kind, lang, context)`` = persona + rules + safety + task + context header +
context. The context is server-computed facts only (never user text, never a birth date).
The ``safety`` block (no predictions of death, illness, accidents or break-ups, no promised
outcomes, no medical or financial directives, gentle referral to professional help, crisis
lines) is required: a prompts.yaml without it does not load.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any


from bot.core.yamlload import safe_load

from bot.core.i18n import LANGS

__all__ = ["Prompts", "prompts", "PromptError"]


class PromptError(RuntimeError):
    """prompts.yaml is malformed (raised at load, naming the entry)."""


def _both(node: Any, where: str) -> dict[str, str]:
    if not isinstance(node, dict) or set(node) != set(LANGS):
        raise PromptError(f"prompts.yaml: {where} must have exactly ko and en")
    return {lang: str(node[lang]).strip() for lang in LANGS}


class Prompts:
    def __init__(self, data: dict[str, Any]) -> None:
        self.persona = _both(data.get("persona"), "persona")
        self.rules = _both(data.get("rules"), "rules")
        self.safety = _both(data.get("safety"), "safety")
        self.context_header = _both(data.get("context_header"), "context_header")
        self.quote = _both(data.get("quote"), "quote")
        for lang in LANGS:
            if "{text}" not in self.quote[lang]:
                raise PromptError(f"prompts.yaml: quote.{lang} must contain {{text}}")
        tasks = data.get("tasks")
        if not isinstance(tasks, dict) or not tasks:
            raise PromptError("prompts.yaml: tasks missing")
        self.tasks = {k: _both(v, f"tasks.{k}") for k, v in tasks.items()}
        dq = data.get("default_question") or {}
        self.default_questions = {k: _both(v, f"default_question.{k}") for k, v in dq.items()}

    def system_prompt(self, kind: str, lang: str, context: str) -> str:
        lang = lang if lang in LANGS else "ko"
        task = self.tasks.get(kind) or self.tasks["chat"]
        parts = [self.persona[lang], self.rules[lang], self.safety[lang], task[lang]]
        if context.strip():
            parts.append(f"{self.context_header[lang]}\n{context.strip()}")
        return "\n\n".join(parts)

    def quote_template(self, lang: str) -> str:
        return self.quote[lang if lang in LANGS else "ko"]

    def default_question(self, kind: str, lang: str) -> str:
        entry = self.default_questions.get(kind) or self.default_questions.get("fortune")
        assert entry is not None
        return entry[lang if lang in LANGS else "ko"]


@lru_cache(maxsize=1)
def prompts() -> Prompts:
    raw = resources.files("bot.core.ai").joinpath("prompts.yaml").read_text(encoding="utf-8")
    data = safe_load(raw)
    if not isinstance(data, dict):
        raise PromptError("prompts.yaml: top level must be a mapping")
    return Prompts(data)
