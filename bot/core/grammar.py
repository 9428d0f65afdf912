"""Korean particles and English plurals, chosen from the words they attach to.

Korean particles alternate with the preceding word's final sound: 은/는, 이/가, 을/를, 과/와,
으로/로 (ㄹ-final words take 로), 이에요/예요, 이라는/라는, 이나/나, 이랑/랑, 이라고/라고.
:func:`final_sound` decides that sound:

* **Hangul**: the last syllable's final consonant (받침): none → vowel, ㄹ → rieul, else consonant.
* **Numbers**: by their Sino-Korean reading, and the LAST number word decides: the last digit
  when it is not 0 (1 일 ㄹ, 2 이, 3 삼, 4 사, 5 오, 6 육, 7 칠 ㄹ, 8 팔 ㄹ, 9 구); trailing
  zeros by the unit they end on (10 십, 100 백, 1000 천, 10⁴–10⁷ 만, 10⁸–10¹¹ 억: consonant;
  10¹²–10¹⁵ 조: vowel; 10¹⁶ and up 경: consonant); 0 alone is 영 (consonant). Thousands
  separators (``1,000``) are read through.
* **Latin letters** (names, codes, time zones such as ``Asia/Seoul``), by the last word's
  final letters — an approximation of how Korean speakers read the word aloud:
  - an all-capital run of two or more letters, or a single letter, is read letter by letter:
    L 엘 and R 알 → rieul; M 엠, N 엔 → consonant; every other letter name ends in a vowel;
  - ``l`` / ``le`` → rieul (Seoul 서울, single 싱글);
  - ``m``, ``n``, ``ng``, ``me``, ``ne`` → consonant (Berlin 베를린, time 타임, fortune 포춘);
  - ``b c k p t`` (and ``ck``) right after a vowel letter → consonant (chat 챗, celtic 켈틱);
    after another consonant they take a vowel 으 (help 헬프, text 텍스트) → vowel;
  - everything else (vowel letters, ``y w d f g h j q r s v x z``, other ``e``) → vowel
    (Tokyo, Paris, career, love).
* **Anything else** (emoji, symbols, other scripts, empty): undecidable → ``None``. Callers
  then use a neutral phrasing (an i18n message's ``ko_neutral`` text), never "은(는)".

Trailing spaces, quotes, brackets and sentence punctuation (. , ! ? … ~) are skipped before deciding (``'완드 3'`` reads as 3).

English plurals: :func:`plural` ("1 credit", "2 credits", irregular nouns from a table).

Pure functions: no I/O, no state.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "PARTICLES",
    "Final",
    "attach",
    "count_noun",
    "final_sound",
    "is_particle",
    "particle",
    "plural",
]

Final = Literal["vowel", "rieul", "consonant"]

#: Each alternating particle as (after a consonant, after a vowel). Either form names the pair.
_PAIRS: tuple[tuple[str, str], ...] = (
    ("은", "는"),
    ("이", "가"),
    ("을", "를"),
    ("과", "와"),
    ("으로", "로"),
    ("이에요", "예요"),
    ("이었어요", "였어요"),
    ("이라는", "라는"),
    ("이라고", "라고"),
    ("이나", "나"),
    ("이랑", "랑"),
    ("이든", "든"),
)
PARTICLES: dict[str, tuple[str, str]] = {form: pair for pair in _PAIRS for form in pair}

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL_INDEX = 8  # index of ㄹ among the 28 final-consonant slots
_SKIP = frozenset(" \t\n'\"“”‘’()[]{}<>「」『』《》〈〉.,!?…~")
_DIGIT: dict[str, Final] = {
    "1": "rieul",  # 일
    "2": "vowel",  # 이
    "3": "consonant",  # 삼
    "4": "vowel",  # 사
    "5": "vowel",  # 오
    "6": "consonant",  # 육
    "7": "rieul",  # 칠
    "8": "rieul",  # 팔
    "9": "vowel",  # 구
}
_VOWEL_LETTERS = frozenset("aeiou")
_STOPS = frozenset("bckpt")


def _number_final(digits: str) -> Final:
    """The final sound of a number's Sino-Korean reading (``digits`` has no separators)."""
    stripped = digits.lstrip("0")
    if not stripped:
        return "consonant"  # 영
    last = stripped[-1]
    if last != "0":
        return _DIGIT[last]
    zeros = len(stripped) - len(stripped.rstrip("0"))
    if zeros <= 3:
        return "consonant"  # 십 백 천
    if zeros <= 11:
        return "consonant"  # 만 억
    if zeros <= 15:
        return "vowel"  # 조
    return "consonant"  # 경


def _letter_name_final(ch: str) -> Final:
    c = ch.upper()
    if c in "LR":
        return "rieul"
    if c in "MN":
        return "consonant"
    return "vowel"


def _latin_final(word: str) -> Final:
    """Final sound of a run of Latin letters (see the module docstring for the rule)."""
    if len(word) == 1 or (word.isupper() and len(word) >= 2):
        return _letter_name_final(word[-1])
    w = word.lower()
    last = w[-1]
    prev = w[-2] if len(w) >= 2 else ""
    if last == "l" or w.endswith("le"):
        return "rieul"
    if last in "mn" or w.endswith(("ng", "me", "ne")):
        return "consonant"
    if w.endswith("ck"):
        return "consonant"
    if last in _STOPS:
        return "consonant" if prev in _VOWEL_LETTERS else "vowel"
    return "vowel"


def final_sound(word: str) -> Final | None:
    """How ``word`` ends when read aloud in Korean, or None when that cannot be told."""
    end = len(word)
    while end and word[end - 1] in _SKIP:
        end -= 1
    if not end:
        return None
    ch = word[end - 1]
    code = ord(ch)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        jong = (code - _HANGUL_FIRST) % 28
        if jong == 0:
            return "vowel"
        return "rieul" if jong == _RIEUL_INDEX else "consonant"
    if ch.isascii() and ch.isdigit():
        start = end
        while start and (word[start - 1].isascii() and word[start - 1].isdigit() or word[start - 1] == ","):
            start -= 1
        return _number_final(word[start:end].replace(",", ""))
    if ch.isascii() and ch.isalpha():
        start = end
        while start and word[start - 1].isascii() and word[start - 1].isalpha():
            start -= 1
        return _latin_final(word[start:end])
    return None


def is_particle(name: str) -> bool:
    """True if ``name`` is one of the alternating particles (either form)."""
    return name in PARTICLES


def particle(word: str, name: str) -> str | None:
    """The form of particle ``name`` (e.g. "은" or "는") that follows ``word``; None if undecidable.

    Raises KeyError for a name that is not an alternating particle.
    """
    after_consonant, after_vowel = PARTICLES[name]
    final = final_sound(word)
    if final is None:
        return None
    if final == "vowel":
        return after_vowel
    if final == "rieul" and after_consonant == "으로":
        return after_vowel
    return after_consonant


def attach(word: str, name: str) -> str | None:
    """``word`` followed by the fitting particle ("서울로", "3이에요"); None if undecidable."""
    p = particle(word, name)
    return None if p is None else word + p


# ---------------------------------------------------------------------- English plurals

_IRREGULAR: dict[str, str] = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "foot": "feet",
    "tooth": "teeth",
    "life": "lives",
    "half": "halves",
    "is": "are",
    "was": "were",
    "has": "have",
}


def plural(noun: str) -> str:
    """The regular (or known irregular) English plural of ``noun``; the last word is inflected."""
    head, sep, last = noun.rpartition(" ")
    lower = last.lower()
    if lower in _IRREGULAR:
        out = _IRREGULAR[lower]
        if last[:1].isupper():
            out = out[:1].upper() + out[1:]
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        out = last + "es"
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return f"{head}{sep}{out}"


def _is_one(count: object) -> bool:
    if isinstance(count, bool):
        return False
    if isinstance(count, int):
        return abs(count) == 1
    text = str(count).strip().replace(",", "")
    return text in ("1", "-1", "+1")


def count_noun(count: object, singular: str, plural_form: str | None = None) -> str:
    """``"1 credit"`` / ``"2 credits"``: the count and the noun in the form it needs.

    Only a count of exactly one (or minus one) takes the singular; 0, 1.5 and non-numbers
    take the plural, as in English ("0 days", "1.5 hours").
    """
    noun = singular if _is_one(count) else (plural_form or plural(singular))
    return f"{count} {noun}"
