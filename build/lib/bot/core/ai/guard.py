"""Input guard: user text is untrusted.

- length cap (``max_input_chars``) -> ``BotError(VALIDATION_ERROR, "ai.too_long")`` before
  anything is charged;
- control and zero-width characters are removed;
- prompt-injection patterns (English and Korean: "ignore previous instructions",
  "이전 지시 무시", "you are now" / "너는 이제", "show your system prompt" /
  "시스템 프롬프트 알려줘", code fences, chat-template delimiters such as ``<|im_start|>``,
  ``[INST]``, ``### system``, ``</s>``) are detected on a normalised copy (NFKC, casefold,
  whitespace collapsed) and neutralised: delimiters are defanged and the question is kept,
  wrapped as a quotation of the user's words (``prompts.yaml`` ``quote``).

The guarded text only ever goes into a ``user`` message; the system prompt is built from
server data alone, so nothing here can change it. ``ai_prompt_injection_detected`` logs
the pattern names, never the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.core.errors import BotError, ErrorCode
from bot.core.logs import log_event

__all__ = ["Guarded", "guard_input", "detect", "neutralise", "INJECTION_PATTERNS"]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

#: name -> pattern, matched against the normalised (NFKC, casefolded, spaces collapsed) text.
INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {name: re.compile(rx) for name, rx in {
    # English: override / forget earlier instructions
    "en_ignore_previous": r"\b(ignore|disregard|forget|skip|bypass|override)\b.{0,30}\b(previous|prior|above|earlier|preceding|all|your|the|any|system)\b.{0,20}\b(instructions?|prompts?|rules?|directions?|guidelines?|messages?|context)\b",
    "en_new_instructions": r"\b(new|updated|real) (instructions?|rules?|system prompt)\b\s*:",
    "en_role_play": r"\b(you are now|you're now|from now on,? you|act as|pretend (to be|you are|you're)|roleplay as|role-play as|you will now be)\b",
    "en_system_prompt": r"\b(system prompt|system message|initial prompt|hidden prompt|developer message|your (instructions|rules|prompt))\b",
    "en_jailbreak": r"\b(jailbreak|developer mode|dan mode|do anything now)\b",
    # Korean
    "ko_ignore_previous": r"(이전|앞|위|기존|지금까지|모든|앞서)\s*(의)?\s*(지시|명령|지침|규칙|설정|프롬프트|대화|내용)\S*\s*(은|는|을|를|다|모두|전부)?\s*(다\s*)?(무시|잊|버려|취소|삭제)",
    "ko_ignore_rules": r"(지시|명령|지침|규칙|설정)\S{0,3}\s*(전부|모두|다)?\s*무시",
    "ko_role_play": r"(너는|넌|당신은|니가|네가)\s*(이제|지금부터|앞으로)|지금부터\s*(너는|넌|당신은)|역할\S{0,2}\s*(바꿔|바꾸|맡아|연기)|인\s*척\s*해",
    "ko_system_prompt": r"(시스템|숨겨진|초기|내부)\s*(프롬프트|메시지|지시|설정)|프롬프트\S{0,2}\s*(알려|보여|출력|공개|말해)",
    "ko_jailbreak": r"(탈옥|개발자\s*모드|제한\s*(해제|없이))",
    # Delimiters of chat templates and markdown structure
    "code_fence": r"(```|~~~)",
    "chat_template": r"(<\|[a-z_]*\|>|\[/?inst\]|<<\s*/?\s*sys\s*>>|</?s>|<\s*/?\s*(system|assistant|user)\s*>)",
    "md_role_header": r"(^|\n)\s*#{1,6}\s*(system|assistant|instruction|instructions|user|시스템|지시)\b",
    "role_prefix": r"(^|\n)\s*(system|assistant|시스템|어시스턴트)\s*:",
}.items()}

# Defanging: these sequences must not survive as structure, whatever the model thinks of them.
_DEFANG: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"<\|[A-Za-z_]*\|>"), " "),
    (re.compile(r"\[\s*/?\s*INST\s*\]", re.I), " "),
    (re.compile(r"<<\s*/?\s*SYS\s*>>", re.I), " "),
    (re.compile(r"</?s>", re.I), " "),
    (re.compile(r"<\s*/?\s*(system|assistant|user)\s*>", re.I), " "),
    (re.compile(r"(```+|~~~+)[A-Za-z0-9_-]*"), " "),
    (re.compile(r"(^|\n)[ \t]*#{1,6}[ \t]*", re.M), r"\1"),
    (re.compile(r"(^|\n)[ \t]*(system|assistant|시스템|어시스턴트)[ \t]*:", re.I), r"\1\2 -"),
)


@dataclass(frozen=True, slots=True)
class Guarded:
    text: str  # what goes into the user message
    flagged: tuple[str, ...]  # names of the patterns found (empty: clean)

    @property
    def suspicious(self) -> bool:
        return bool(self.flagged)


def _clean(text: str) -> str:
    text = text.translate(_ZERO_WIDTH)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()


def _normalised(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[ \t\r\f\v]+", " ", folded)


def detect(text: str) -> tuple[str, ...]:
    norm = _normalised(_clean(text))
    return tuple(name for name, rx in INJECTION_PATTERNS.items() if rx.search(norm))


def neutralise(text: str) -> str:
    out = unicodedata.normalize("NFKC", text)
    for rx, repl in _DEFANG:
        out = rx.sub(repl, out)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


def guard_input(text: str, max_chars: int, *, kind: str = "chat", quote_template: str = "{text}") -> Guarded:
    """Check and clean one piece of user text. Raises ``ai.too_long`` over ``max_chars``.

    ``quote_template`` (with ``{text}``) wraps a flagged text as a quotation of the user.
    """
    cleaned = _clean(text or "")
    if len(cleaned) > max_chars:
        raise BotError(ErrorCode.VALIDATION_ERROR, "ai.too_long", limit=max_chars, length=len(cleaned))
    flagged = detect(cleaned)
    if not flagged:
        return Guarded(cleaned, ())
    log_event("ai_prompt_injection_detected", level=30, kind=kind, patterns=",".join(flagged),
              length=len(cleaned))
    safe = neutralise(cleaned).replace("\u00ab", "\"").replace("\u00bb", "\"")
    return Guarded(quote_template.replace("{text}", safe), flagged)
