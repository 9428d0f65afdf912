"""AI counselling safety: crisis recognition on the way in, a harm check on the way out.

Crisis (``detect_crisis`` / ``crisis_replies``)
    A message about suicide, self-harm or an acute crisis (Korean or English) is answered by
    the router with a fixed, caring reply carrying help lines (ko: 자살예방상담전화 109,
    정신건강위기상담 1577-0199, 112/119; en: the local emergency number, 988 in the US,
    Samaritans 116 123 in the UK and Ireland, and the Korean lines). It is never an AI
    improvisation, never charged, never a sales prompt (no /buy button, no credits talk), and
    it runs *before* the rate limit, the onboarding gate and any hold — so it answers when
    Redis is down and for users who are not onboarded. Its only Redis call is a best-effort
    read of the profile's language (0.5 s cap); without one, the platform's hint decides. ``ai_crisis_reply`` logs the rule that
    matched, the language and the command, never the text.

    Matching is done on normalised copies of the text (``normalise``): NFKC, casefold,
    zero-width and control characters removed, whitespace collapsed. Korean rules run on a
    *compact* copy with every space and punctuation mark removed (people write 죽고싶어,
    죽고 싶어 and 죽고.싶어 alike); English rules run on a *spaced* copy where punctuation
    other than apostrophes became spaces (``self-harm`` -> ``self harm``).

    Choices (recall first: a false positive costs a kind message and no money; a miss can
    cost far more — but the obvious idioms are excluded):
    - Korean hyperbole built on 죽겠다 / 죽을 것 같다 / 죽을 만큼 (배고파 죽겠어,
      죽을 만큼 맛있어, 웃겨 죽겠다) is *not* matched: none of the rules uses those forms.
      죽고 싶다 itself *is* matched even when it may be hyperbole (창피해서 죽고 싶어).
    - Negated forms are not crisis: 죽고 싶지 않아, 사라지고 싶지 않아, "I don't want to
      die (alone)".
    - 살기 싫다 / 살고 싶지 않다 are matched unless a place or companion comes right before
      (서울에서 살기 싫어, 엄마랑 살기 싫어, 혼자 살기 싫어) or the phrase is about a way of
      living (이렇게 살기 싫어 = "I want my life to change"); 세상에서 살기 싫어 is matched.
    - Words with a second, everyday meaning are left out or fenced: 자살골 (own goal),
      자해공갈 (insurance fraud), 유서 깊은 (historic), 극단적인 선택지 (an extreme option),
      목을 매다 (to cling to someone; only 목매달다 counts), 투신 (also "to devote oneself").
    - English idioms: "dying to know", "to die for", "die my hair" (a common misspelling of
      dye), "suicide squad", "suicide doors", "killed myself laughing", "this is killing me"
      (only "kill myself" counts, not "kill me").
    - "hurt myself" counts with intent ("want to / going to / thinking of hurting myself",
      "on purpose"), not as accident talk ("I hurt myself at the gym"); "cut myself" counts
      unless an accident is named right after it (shaving, cooking, on paper, by accident).
    - Not covered: deliberate misspellings (su1cide, ㅈㄱㅅㄷ), other languages, and indirect
      talk without the words above. The system prompt asks the model to respond to distress
      it sees with warmth and to suggest professional help, as a second line.

Output (``output_problem`` / ``check_output``)
    Before an AI answer is sent, the chain checks it for: predictions of death, illness,
    accidents or break-ups; encouragement of self-harm; promises of guaranteed outcomes
    (반드시 합격, 100% 성공, "you will definitely"); medical and financial directives
    (stop your medication, put all your money into ...). Both languages' rules always run
    (a model may answer in the other language). A flagged answer is replaced by the static
    text, uncharged (``ai_output_blocked`` logs the reason, never the text). The rules
    avoid words a caring answer legitimately uses: a reply that mentions a suicide
    prevention line, or the Death card meaning change, is not flagged.

Nothing here writes to Redis; the only read is that best-effort profile language lookup.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.i18n import Lang, normalize_lang, t
from bot.core.logs import log_event
from bot.core.reply import Reply

if TYPE_CHECKING:
    from bot.core.router import Event
    from bot.core.service import Core

__all__ = [
    "Normalised", "normalise", "detect_crisis", "is_crisis", "crisis_replies", "CRISIS_RULES",
    "output_problem", "check_output", "OUTPUT_RULES", "UNSCREENED_COMMANDS",
]

#: Commands whose arguments are not screened (operators' text, not a user's feelings).
UNSCREENED_COMMANDS: frozenset[str] = frozenset({"ops"})

#: How long the crisis reply may wait for the profile's language before using the hint.
_PROFILE_LANG_SECONDS = 0.5

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)


@dataclass(frozen=True, slots=True)
class Normalised:
    spaced: str   # NFKC, casefolded, no zero-width/control, punctuation -> space, spaces collapsed
    compact: str  # the same with every space removed (Korean rules)


def _folded(text: str) -> str:
    """NFKC, zero-width characters removed, casefolded, typographic apostrophes made plain."""
    s = unicodedata.normalize("NFKC", text or "").translate(_ZERO_WIDTH).casefold()
    return s.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")


def _spaced(folded: str, keep: str = "'") -> str:
    """Letters, digits and ``keep`` stay; everything else becomes a space; spaces collapsed."""
    out = [ch if unicodedata.category(ch)[0] in "LNM" or ch in keep else " " for ch in folded]
    return re.sub(r"\s+", " ", "".join(out)).strip()


def normalise(text: str) -> Normalised:
    """The two matching forms of ``text`` (see the module docstring)."""
    spaced = _spaced(_folded(text))
    return Normalised(spaced, spaced.replace(" ", "").replace("'", ""))


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- crisis -------------------------------------------------------------------------------
# Korean rules: matched against the compact form (no spaces, no punctuation).
_KO_NOT_NEGATED = r"(?!지않|진않|지는않|지도않|지마)"
# Before 살기 싫다 / 살고 싶지 않다: a place, a companion or a manner makes it about where,
# with whom or how one lives, not whether.
_KO_LIVING_CONTEXT = "".join(f"(?<!{w})" for w in (
    "에서", "에", "랑", "하고", "와", "과", "같이", "함께", "혼자", "혼자서", "여기서", "거기서", "저기서",
    "이렇게", "그렇게", "저렇게", "이대로", "이런식으로", "그런식으로",
))
_KO_NO_WILL_TO_LIVE = r"(?:살기(?:가)?싫|살고싶지(?:가|는)?않|살아가기싫|살아있기싫|살아있는게싫)"

KO_CRISIS: dict[str, re.Pattern[str]] = {name: _rx(p) for name, p in {
    # 죽고 싶다 and its spellings; not 죽고 싶지 않다; not 죽고 십 년 (ten years after ... died)
    "ko_want_to_die": r"(?:죽|뒤지|디지)(?:고|구)만?(?:싶|시퍼|파)" + _KO_NOT_NEGATED,
    "ko_better_dead": r"죽는게(?:나아|나을|낫)|죽는편이(?:나아|나을|낫)|차라리죽(?:는|을|어|고|겠|지)"
                      r"|죽어버리(?:고싶|겠)|죽어버릴(?:래|거야)|(?:그냥|차라리|확|콱)죽어버릴까"
                      r"|(?:나|난|그냥|차라리)죽을래|죽어야(?:지|겠)|목(?:을)?매고싶"
                      r"|(?:내가|나는|난|차라리|그냥)(?:죽었으면|사라졌으면|없어졌으면)좋겠|죽어야겠",
    "ko_no_will_to_live": _KO_LIVING_CONTEXT + _KO_NO_WILL_TO_LIVE
                          + r"|세상(?:에서|에)?" + _KO_NO_WILL_TO_LIVE
                          + r"|살아서뭐(?:해|하)|살아봤자뭐|살아갈(?:이유|의미)(?:가|를)?(?:없|모르|잃)"
                          + r"|살아야할이유(?:가|를)?(?:없|모르)"
                          + r"|그만살(?:고싶|래|까|아야|고파)|살(?:아갈)?이유(?:가|는)?없"
                          + r"|사는게의미(?:가)?없|삶의의미(?:가)?없|살의미(?:가)?없",
    "ko_vanish": r"(?:사라지|없어지|사라져버리|증발하|소멸하)고싶" + _KO_NOT_NEGATED,
    "ko_end_life": r"목숨(?:을)?(?:끊|버리고싶)|스스로목숨|삶을마감|(?:삶|인생)을끝내(?:고싶|려|겠|버리|기로)"
                   r"|(?:삶|인생)(?:을)?포기하고싶",
    "ko_extreme_choice": r"극단적(?:인)?선택(?!지)",
    "ko_self_harm_act": r"손목(?:을)?(?:긋|그어|그었|그으)"
                        r"|뛰어내리고싶|(?:옥상|다리|한강|창문|아파트|건물|베란다)(?:에서|위에서|에)?(?:뛰어내리|뛰어들고싶)"
                        r"|수면제(?:를)?(?:모으|모아|모았|잔뜩|한꺼번|한번에)|유서(?:를)?(?:쓰|썼|써|남기)",
}.items()}
# Short words that a compact form could forge across a space (혼자 살기 -> 자살, 여자 해외 -> 자해,
# 학생을 마감 -> 생을마감, 항목 매달 -> 목매달): matched on the spaced form.
KO_CRISIS_WORDS: dict[str, re.Pattern[str]] = {name: _rx(p) for name, p in {
    "ko_suicide": r"자살(?!골)",
    "ko_self_harm": r"자해(?! ?공갈)",
    "ko_end_life_word": r"(?<![가-힣])생을 ?(?:마감|끝내)",
    "ko_hanging": r"(?<![가-힣])목 ?(?:을 ?)?매달",
}.items()}

# English idioms removed from the spaced form before the English rules run.
_EN_BENIGN = _rx(
    r"\b(?:don't|dont|do not|never|not|doesn't|didn't) (?:really )?(?:want|wanna) (?:to )?die\b"
    r"|\bdying to\b|\bto die for\b|\bdie (?:my|her|his|your|our|their|the) (?:hair|clothes|shirt|jeans)\b"
    r"|\bsuicide (?:squad|doors?|runs?|drills?|king)\b"
    r"|\bkill(?:ed|ing)? my ?self laughing\b"
)
_EN_NOT = r"(?:don't|dont|do not|no longer|never|not) (?:want|wanna) (?:to )?"
EN_CRISIS: dict[str, re.Pattern[str]] = {name: _rx(p) for name, p in {
    "en_kill_self": r"\b(?:kill|killing|killed|unalive|unaliving|end|ending) my ?self\b|\bunalive me\b",
    "en_want_to_die": r"\b(?:want|wanna|wanted|wish|ready) (?:to )?die\b|\bi deserve to die\b"
                      r"|\bwish (?:i|i'd) (?:was|were|had been|would be) dead\b|\bbetter off dead\b"
                      r"|\b(?:want|wanna) to be dead\b|\bi should (?:just )?die\b|\bi feel like dying\b"
                      r"|\bwish i (?:had|'d|would) never (?:been born|wake up|woken up)\b",
    "en_end_life": r"\bend (?:my|it) (?:life|all)\b|\btake my (?:own )?life\b|\bending my life\b"
                   r"|\b(?:hang|drown|shoot|poison|overdose) my ?self\b|\bkms\b"
                   r"|\bjump (?:off|from) (?:a|the|this) (?:bridge|building|roof|cliff|balcony)\b",
    "en_suicide": r"\bsuicid(?:e|al)\b",
    "en_no_will_to_live": r"\b" + _EN_NOT + r"(?:live|be alive|exist)\b"
                          r"(?! (?:in|with|at|near|alone|here|there|like|by|on|together|abroad|somewhere))"
                          r"|\b" + _EN_NOT + r"(?:live|be) (?:in |on )?(?:this world|this earth)\b"
                          r"|\b" + _EN_NOT + r"wake up (?:anymore|any more|again|ever|tomorrow)\b"
                          r"|\bhope i (?:don't|never) wake up\b"
                          r"|\bno reason to (?:live|go on|keep going)\b|\bnot worth living\b|\bnothing to live for\b",
    "en_self_harm": r"\bself ?harm(?:ing|ed)?\b|\bharm(?:ing)? my ?self\b"
                    r"|\b(?:want|wanna|going|gonna|urge|urges|thinking|think|thought|tempted|feel like|need|started"
                    r"|keep|stop) (?:to |of |about )?(?:hurt|hurting|cut|cutting|burn|burning) my ?self\b"
                    r"|\b(?:hurt|hurting|cut|cutting|burn|burning) my ?self (?:on purpose|deliberately|again)\b"
                    r"|\bcut(?:ting)? my ?self\b(?! (?:shaving|cooking|chopping|on|by accident|accidentally|while"
                    r"|with a knife|with the knife|with paper|opening|a|an|some|off|loose|free|short|slack|out))",
}.items()}

#: Every crisis rule by name, for documentation and tests.
CRISIS_RULES: dict[str, re.Pattern[str]] = {**KO_CRISIS, **KO_CRISIS_WORDS, **EN_CRISIS}


def detect_crisis(text: str) -> str | None:
    """Name of the first crisis rule ``text`` matches, or None. Pure; never logs."""
    if not text or not text.strip():
        return None
    norm = normalise(text)
    for name, rx in KO_CRISIS.items():
        if rx.search(norm.compact):
            return name
    for name, rx in KO_CRISIS_WORDS.items():
        if rx.search(norm.spaced):
            return name
    english = _EN_BENIGN.sub(" ", norm.spaced)
    for name, rx in EN_CRISIS.items():
        if rx.search(english):
            return name
    return None


def is_crisis(text: str) -> bool:
    return detect_crisis(text) is not None


async def _reply_lang(core: Core, event: Event) -> Lang:
    """The profile's language if Redis answers quickly, else the platform's hint (ko default)."""
    try:
        async with asyncio.timeout(_PROFILE_LANG_SECONDS):
            aid = await core.accounts.lookup(event.uid)
            profile = await core.profiles.get(aid) if aid else None
    except asyncio.CancelledError:
        raise
    except Exception:  # Redis down or slow, an unreadable profile: the hint will do
        profile = None
    return profile.lang if profile is not None else normalize_lang(event.lang_hint)


async def crisis_replies(core: Core, event: Event, command: str | None, args: str) -> list[Reply] | None:
    """The router's crisis check: the fixed help reply when the user's words match, else None.

    Screens plain text and the arguments of every command except ``UNSCREENED_COMMANDS``
    (an unknown command is screened whole). Runs before the rate limit and any Redis state
    change; nothing is charged or written. Not ``private``: the help lines must reach the
    person even in a group chat (they carry nothing personal).
    """
    if command in UNSCREENED_COMMANDS:
        return None
    screened = event.text if command is not None and command not in core.router.commands else args
    rule = detect_crisis(screened)
    if rule is None:
        return None
    lang = await _reply_lang(core, event)
    label = "text" if command is None else (command if command in core.router.commands else "unknown")
    log_event("ai_crisis_reply", rule=rule, lang=lang, command=label, platform=event.platform)
    core.metrics.ai_crisis_replies.labels(lang).inc()
    return [Reply(t(lang, "safety.crisis_reply"))]


# --- output check ---------------------------------------------------------------------------
# Korean rules run on the spaced form (``%`` kept): a model writes with spaces, and word starts
# matter (예약을 중단하세요 is not 약을 중단하세요). " ?" marks where a space may fall.
# A prediction quoted as a worry or denied (헤어지게 될까 봐, 죽게 된다는 뜻이 아니에요,
# 사고를 당할 거라고 단정할 수 없어요) is not a prediction: _KO_ASSERTED rejects those endings.
_KO_ASSERTED = r"(?! ?(?:거|것)? ?(?:까|지|라는|라고|이라는|이라고|다는|다고|란|이란|는지|을지|ㄹ지))"
_W = r"(?<![가-힣])"  # a word starts here
_KO_OUTPUT: tuple[tuple[str, str], ...] = (
    ("predicts_death", r"(?:죽게 ?될|죽게 ?됩니다|죽을 ?(?:것|거)|사망하게 ?될|사망할 ?(?:것|거)|목숨을 ?잃게 ?될"
                       r"|목숨을 ?잃을 ?(?:것|거)|세상을 ?떠나게 ?될|세상을 ?떠날 ?(?:것|거)|단명할 ?(?:것|거)|단명하게 ?될)"
                       + _KO_ASSERTED),
    ("predicts_illness", _W + r"(?:병|암|질병|중병|큰 ?병|불치병|난치병)(?:에|이) ?(?:걸리게 ?될|걸릴 ?(?:것|거)"
                         r"|걸리실 ?(?:것|거)|생길 ?(?:것|거)|생기게 ?될)" + _KO_ASSERTED
                         + r"|건강이 ?(?:크게 ?|심각하게 ?)?(?:나빠질|악화될) ?(?:것|거)" + _KO_ASSERTED
                         + r"|쓰러지게 ?될|쓰러질 ?(?:것|거)" + _KO_ASSERTED),
    ("predicts_accident", _W + r"(?:교통)?사고(?:를|가)? ?(?:당하게 ?될|당할 ?(?:것|거)|당하실 ?(?:것|거)|나게 ?될"
                          r"|날 ?(?:것|거))" + _KO_ASSERTED + r"|(?:크게 ?)?다치게 ?될|크게 ?다칠 ?(?:것|거)" + _KO_ASSERTED),
    ("predicts_breakup", r"(?:헤어지게 ?될|헤어지게 ?됩니다|헤어질 ?(?:것|거)|이별하게 ?될|이별할 ?(?:것|거)|이혼하게 ?될"
                         r"|이혼할 ?(?:것|거)|바람을 ?피울 ?(?:것|거))" + _KO_ASSERTED
                         + r"|(?:헤어질|이별할|이혼할) ?운명"),
    ("encourages_self_harm", r"죽는 ?(?:게|것이|편이) ?(?:나아요|나을 ?거|낫습니다|낫겠)|자해해도 ?(?:괜찮|돼)|자해하세요"
                             r"|자살하세요|목숨을 ?끊으세요|사라지는 ?게 ?나아요|죽어도 ?괜찮아요|죽어 ?버리세요"),
    ("guarantees_outcome", r"(?:반드시|틀림없이|무조건|확실히|100 ?%|100 ?퍼센트|백 ?퍼센트|백퍼|100퍼) ?"
                           r"(?:합격|성공|이루어|잘 ?될|잘 ?됩|부자가|당첨|승진|재회|결혼하|붙|오를|돌아올)"
                           r"|(?:성공|합격|당첨|재회|결과)(?:을|를|이|가)? ?(?:보장합니다|보장해요|보장됩니다|보장드)"
                           r"|100 ?(?:%|퍼센트) ?(?:확실|보장)"),
    ("medical_directive", _W + r"(?:약|약물|치료|항우울제|처방약|복용)(?:을|를)? ?(?:끊으세요|중단하세요|그만 ?드세요|그만두세요"
                          r"|그만 ?먹|끊어도 ?(?:됩니다|돼요|괜찮)|중단해도 ?(?:됩니다|돼요|괜찮))"
                          r"|병원에 ?(?:가지 ?않아도|안 ?가도)|의사를 ?만날 ?필요(?:가|는)? ?없|치료(?:를|는)? ?받을 ?필요(?:가|는)? ?없"),
    ("financial_directive", r"(?:전 ?재산|모든 ?돈|가진 ?돈|적금|퇴직금|보증금)(?:을|를)? ?(?:투자하세요|투자해 ?보세요|거세요"
                            r"|걸어 ?보세요|넣으세요|넣어 ?보세요|올인)|(?:대출|빚)(?:을|를)? ?(?:받아서|내서) ?투자"
                            r"|대출(?:을|를)? ?받으세요|(?:주식|코인|비트코인|가상 ?화폐|복권)(?:을|를|에)? ?"
                            r"(?:사세요|매수하세요|투자하세요|올인)|올인하세요"),
)
# English rules run on the spaced form with "%" spelt "percent". Sentences that deny a
# prediction ("the Death card doesn't mean you will die") are removed first.
_EN_DENIAL = _rx(r"\b(?:doesn't|does not|don't|do not|didn't|not|never|no way|isn't|is not|aren't) "
                 r"(?:necessarily |always |really )?(?:mean|means|meaning|predict|predicts|say|says|saying|suggest"
                 r"|suggests|indicate|indicates|imply|implies|that)\b[^.!?;:\n]*")
_EN_OUTPUT: tuple[tuple[str, str], ...] = (
    ("predicts_death", r"\b(?:you|your (?:\w+ )?(?:partner|mother|father|mom|dad|child|husband|wife|family|friend)"
                       r"|someone (?:close to you|in your family)) (?:will|are going to|is going to|shall) (?:soon )?"
                       r"(?:die|pass away|lose (?:your|their|his|her) life)\b|\byou'll die\b"),
    ("predicts_illness", r"\byou(?:'ll| will| are going to) (?:soon )?(?:get|become|fall) (?:seriously |very |gravely )?"
                         r"(?:sick|ill|cancer|a disease|an illness)\b|\byou will (?:develop|be diagnosed with)\b"),
    ("predicts_accident", r"\byou(?:'ll| will| are going to) (?:have|be in|suffer|be hurt in|get hurt in) "
                          r"(?:a |an |serious |terrible )*(?:accident|crash|injury|car accident)\b"
                          r"|\byou(?:'ll| will) (?:be|get) (?:badly |seriously )?(?:injured|hurt)\b"),
    ("predicts_breakup", r"\b(?:you two|you both|you|your (?:relationship|marriage)) (?:will|are going to|is going to) "
                         r"(?:break up|split up|divorce|separate|end)\b|\b(?:he|she|they|your partner) (?:will|is going to"
                         r"|are going to) (?:leave|cheat on|divorce) you\b|\bdestined to (?:break up|divorce|separate)\b"),
    ("encourages_self_harm", r"\byou should (?:kill|hurt|harm|cut) yourself\b|\b(?:you'd|you would|you are|you're) "
                             r"better off dead\b|\bend your (?:own )?life\b|\bgo ahead and (?:hurt|kill|harm) yourself\b"),
    ("guarantees_outcome", r"\byou will (?:definitely|certainly|surely|undoubtedly|absolutely)\b|\bi guarantee\b"
                           r"|\b(?:is|are) guaranteed to\b|\b(?:success|pass|passing|win|outcome|result) is guaranteed\b"
                           r"|\b100 percent (?:success|sure|certain|guaranteed|chance)\b"
                           r"|\bwithout (?:a|any) doubt,? you will\b|\byou are (?:sure|certain) to (?:pass|win|succeed|get)\b"),
    ("medical_directive", r"\bstop taking (?:your |the )?(?:medication|medicine|meds|pills|antidepressants|treatment)\b"
                          r"|\byou (?:don't|do not) need (?:a doctor|to see a doctor|treatment|your medication|therapy)\b"
                          r"|\b(?:don't|do not|no need to) (?:see|go to|visit) (?:a|the|your) doctor\b"),
    ("financial_directive", r"\b(?:invest|put|bet) (?:all|everything|all of) (?:your|you have)\b"
                            r"|\binvest your (?:savings|money)\b"
                            r"|\bbuy (?:this |these |the )?(?:stocks?|shares|crypto|bitcoin|coins?)\b"
                            r"|\btake out a loan\b|\bgo all in\b|\bput all your money\b"),
)

_KO_OUTPUT_RX = tuple((reason, _rx(p)) for reason, p in _KO_OUTPUT)
_EN_OUTPUT_RX = tuple((reason, _rx(p)) for reason, p in _EN_OUTPUT)
#: Every output rule as (reason, pattern): Korean ones on the spaced form with ``%`` kept,
#: English ones on the spaced form with ``%`` spelt "percent" and denials removed.
OUTPUT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = _KO_OUTPUT_RX + _EN_OUTPUT_RX


def output_problem(text: str, lang: str = "ko") -> str | None:
    """Why an AI answer must not be sent (a reason name), or None when it may be.

    ``lang`` is the language asked for; both languages' rules run regardless (a model may
    switch language), the asked-for language's first (only the reported reason can differ).
    Pure; never logs.
    """
    if not text or not text.strip():
        return None
    folded = _folded(text)
    ko_subject = _spaced(folded, keep="'%")
    en_subject = _spaced(_EN_DENIAL.sub(" ", folded).replace("%", " percent"))
    passes = [(_KO_OUTPUT_RX, ko_subject), (_EN_OUTPUT_RX, en_subject)]
    if lang == "en":
        passes.reverse()
    for rules, subject in passes:
        for reason, rx in rules:
            if rx.search(subject):
                return reason
    return None


def check_output(text: str, lang: str = "ko") -> bool:
    """True when ``text`` is flagged as harmful (see ``output_problem``)."""
    return output_problem(text, lang) is not None
