"""Crisis recognition and the AI output check: tables of what must and must not match.

The choices behind each row are documented in ``bot/core/ai/safety.py``.
"""

from __future__ import annotations

import pytest

from bot.core.ai.prompts import PromptError, Prompts, prompts
from bot.core.ai.safety import CRISIS_RULES, check_output, detect_crisis, normalise, output_problem

# --- crisis: must be recognised ------------------------------------------------------------
CRISIS_POSITIVE = [
    # found missing in review, each must reach the help lines before any hold
    "그만 살고 싶어", "살 이유가 없어요", "나 죽을래", "목 매고 싶어", "그냥 죽어야지", "사는 게 의미가 없어",
    "i want to hang myself", "I want to be dead", "I should just die", "I feel like dying",
    "I don't want to wake up tomorrow", "I will jump off a bridge", "honestly kms",
    "죽고 싶어요",
    "죽고싶다",
    "요즘 그냥 죽고만 싶어",
    "자살하고 싶어요",
    "자살 생각이 자꾸 나요",
    "살기 싫어",
    "힘들어서 살기 싫어",
    "더 이상 살고 싶지 않아요",
    "세상에서 살기 싫어",
    "사라지고 싶어",
    "그냥 없어지고 싶다",
    "목숨을 끊고 싶어요",
    "자해를 했어요",
    "손목을 그었어",
    "차라리 죽는 게 나아",
    "내가 죽었으면 좋겠어",
    "극단적인 선택을 할까 봐 무서워요",
    "살아서 뭐 해",
    "옥상에서 뛰어내리고 싶어",
    "나 뒤지고 싶다",
    "수면제를 모아 뒀어요",
    "유서를 썼어요",
    "목 매달고 싶다는 생각뿐이에요",
    "이제 생을 마감하고 싶어",
    "I want to kill myself",
    "i just want to die",
    "I wanna die",
    "I want to end my life",
    "sometimes I want to end it all",
    "thinking about suicide",
    "I feel suicidal",
    "I've been self-harming again",
    "I want to hurt myself",
    "I keep cutting myself",
    "I cut myself last night",
    "I wish I were dead",
    "I don't want to live anymore",
    "I don't want to live in this world anymore",
    "there's no reason to live",
]

# --- crisis: normalisation (zero-width, full-width, spacing, punctuation, case) -----------
CRISIS_NORMALISED = [
    "죽\u200b고 싶\u200d어",       # zero-width characters inside the words
    "죽.고.싶.어",                 # punctuation between syllables
    "죽    고   싶   어",          # spaces everywhere
    "ＩＷＡＮＴＴＯＤＩＥ i ｗａｎｔ ｔｏ ｄｉｅ",  # full-width letters (NFKC)
    "I WANT TO KILL MYSELF",      # casefold
    "self\u00adharm",             # soft hyphen
    "I want to kill my-self",     # punctuation inside a word
    "자\u200b살",
]

# --- crisis: must NOT be recognised (idioms, other meanings, negations) -----------------
CRISIS_NEGATIVE = [
    "죽을 만큼 맛있어",
    "배고파 죽겠어",
    "웃겨 죽겠다",
    "보고 싶어 죽겠어",
    "자살골 넣었어 ㅋㅋ",
    "죽기 살기로 공부했어요",
    "서울에서 살기 싫어요, 이사 운 봐 주세요",
    "엄마랑 살기 싫어",
    "혼자 살기 싫어요 연애운은?",
    "이렇게 살기 싫어, 이직할까요?",
    "죽고 싶지 않아요, 건강운이 궁금해요",
    "사라지고 싶지 않아요",
    "아버지가 죽고 십 년이 지났어요",
    "화분이 죽었어요",
    "목숨 걸고 지킬게",
    "유서 깊은 절에 다녀왔어요",
    "극단적인 선택지밖에 없나요 이직 고민",
    "그 사람한테 목을 매고 있어요",
    "자해공갈단 뉴스 봤어",
    "정치에 투신하고 싶어요",
    "모자 살래?",
    "여자 해외여행 운이 궁금해요",
    "학생을 마감했어요",
    "항목 매달 정리하기",
    "인생을 끝내주게 살고 싶어",
    "I'm dying to know my fortune",
    "this cake is to die for",
    "I want to die my hair red",
    "I don't want to die alone",
    "watching Suicide Squad tonight",
    "I killed myself laughing",
    "this homework is killing me",
    "I hurt myself at the gym",
    "I cut myself shaving",
    "I cut myself a slice of cake",
    "I don't want to live in London",
    "I don't want to wake up early tomorrow",
    "my phone is going to die",
    "will I pass my exam?",
    "I'm killing it at work",
]


@pytest.mark.parametrize("text", CRISIS_POSITIVE + CRISIS_NORMALISED)
def test_crisis_recognised(text: str) -> None:
    assert detect_crisis(text) in CRISIS_RULES, text


@pytest.mark.parametrize("text", CRISIS_NEGATIVE)
def test_not_a_crisis(text: str) -> None:
    assert detect_crisis(text) is None, (text, detect_crisis(text))


def test_tables_are_big_enough_and_cover_both_languages() -> None:
    assert len(CRISIS_POSITIVE) >= 20 and len(CRISIS_NEGATIVE) >= 20
    for table in (CRISIS_POSITIVE, CRISIS_NEGATIVE):
        assert sum(1 for t in table if any("\uac00" <= c <= "\ud7a3" for c in t)) >= 10
        assert sum(1 for t in table if t.isascii()) >= 10
    # Every crisis rule is exercised by at least one positive row.
    hit = {detect_crisis(t) for t in CRISIS_POSITIVE + CRISIS_NORMALISED}
    assert hit == set(CRISIS_RULES), set(CRISIS_RULES) - hit


def test_normalise_forms() -> None:
    n = normalise("  I\u2019m   SELF-harming\u200b…  죽고\t싶어 ")
    assert n.spaced == "i'm self harming 죽고 싶어"
    assert n.compact == "imselfharming죽고싶어"
    assert detect_crisis("") is None and detect_crisis("   ") is None


# --- output check -----------------------------------------------------------------------------
OUTPUT_HARMFUL = [
    ("당신은 올해 큰 병에 걸릴 것입니다.", "predicts_illness"),
    ("가족 중 누군가 세상을 떠나게 될 것입니다.", "predicts_death"),
    ("두 분은 곧 헤어지게 될 거예요.", "predicts_breakup"),
    ("다음 달에 교통사고를 당할 거예요.", "predicts_accident"),
    ("차라리 죽는 게 나아요.", "encourages_self_harm"),
    ("이번 시험은 반드시 합격합니다!", "guarantees_outcome"),
    ("100% 성공할 거예요.", "guarantees_outcome"),
    ("무조건 붙어요", "guarantees_outcome"),
    ("재회를 보장합니다", "guarantees_outcome"),
    ("약을 끊으세요. 운이 좋아지면 필요 없어요.", "medical_directive"),
    ("병원에 가지 않아도 괜찮아요.", "medical_directive"),
    ("전 재산을 투자하세요.", "financial_directive"),
    ("비트코인을 사세요.", "financial_directive"),
    ("You will die young.", "predicts_death"),
    ("You will get seriously ill this winter.", "predicts_illness"),
    ("You will have a car accident next month.", "predicts_accident"),
    ("Your partner will leave you.", "predicts_breakup"),
    ("You should kill yourself.", "encourages_self_harm"),
    ("You will definitely pass the exam.", "guarantees_outcome"),
    ("I guarantee you will win.", "guarantees_outcome"),
    ("100% success is coming.", "guarantees_outcome"),
    ("Stop taking your medication.", "medical_directive"),
    ("Invest all your savings in this stock.", "financial_directive"),
    # A denial in one sentence does not hide a promise in the next.
    ("The Death card doesn't mean you will die. But you will definitely win the lottery.", "guarantees_outcome"),
]
OUTPUT_FINE = [
    "죽음 카드는 실제로 죽게 된다는 뜻이 아니에요. 끝과 새로운 시작을 뜻해요.",
    "헤어지게 될까 봐 걱정되시는군요.",
    "두 분이 헤어질 거라는 생각에 마음이 무거우시죠.",
    "그 사람과 헤어질지 고민되시는군요.",
    "사고를 당할 거라고 단정할 수는 없어요.",
    "여행 예약을 중단하세요 라는 뜻은 아니에요.",
    "마음이 많이 힘드시다면 자살예방상담전화 109에 연락해 보세요.",
    "오늘은 반드시 충분히 쉬세요.",
    "건강 검진을 받아 보시는 것도 좋아요.",
    "이번 주는 투자보다는 저축에 마음을 두면 좋아요.",
    "The Death card doesn't mean you will die; it speaks of change.",
    "If you are thinking about suicide, please call or text 988.",
    "Nothing is guaranteed, but steady effort helps.",
    "If money worries you, a financial adviser can help.",
    "Please talk to a doctor about your medication.",
    "You will feel lighter after a walk.",
]


@pytest.mark.parametrize("text,reason", OUTPUT_HARMFUL)
def test_harmful_output_flagged(text: str, reason: str) -> None:
    assert output_problem(text, "ko") == reason
    assert check_output(text, "en") is True


@pytest.mark.parametrize("text", OUTPUT_FINE)
def test_caring_output_passes(text: str) -> None:
    assert output_problem(text, "ko") is None and output_problem(text, "en") is None
    assert check_output(text, "ko") is False


# --- prompts ------------------------------------------------------------------------------------
def test_system_prompts_carry_the_safety_rules_in_both_languages() -> None:
    ko = prompts().system_prompt("tarot", "ko", "카드: 죽음")
    assert all(w in ko for w in ("죽음, 질병, 사고, 이별", "장담하지 마세요", "100% 성공", "전문가", "109", "1577-0199"))
    en = prompts().system_prompt("chat", "en", "")
    assert all(w in en for w in ("Never predict or hint at death, illness, accidents, break-ups", "Never promise outcomes",
                                 "professional", "988", "116 123"))
    # Safety comes before the task and the reading material.
    assert ko.index("장담하지") < ko.index("카드: 죽음")


def test_prompts_without_safety_block_do_not_load() -> None:
    import yaml
    from importlib import resources

    data = yaml.safe_load(resources.files("bot.core.ai").joinpath("prompts.yaml").read_text(encoding="utf-8"))
    Prompts(data)  # the shipped file loads
    del data["safety"]
    with pytest.raises(PromptError, match="safety"):
        Prompts(data)
