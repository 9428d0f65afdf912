"""Chat text for /saju, /newyear and the AI reading's context (never the birth date)."""

from __future__ import annotations

from bot.core.i18n import t
from bot.core.saju.chart import Chart
from bot.core.saju.content import content
from bot.core.saju.cycle import ELEMENTS
from bot.core.saju.derive import chart_gods, element_balance
from bot.core.saju.newyear import AREAS, NewYear, animal_code

__all__ = ["chart_lines", "ai_context", "render_chart", "render_newyear_summary", "render_newyear_detail"]

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _balance_lines(chart: Chart, lang: str) -> list[str]:
    sc = content()
    counts = element_balance(chart)
    total = sum(counts.values())
    top = max(ELEMENTS, key=lambda e: (counts[e], -ELEMENTS.index(e)))
    missing = [e for e in ELEMENTS if counts[e] == 0]
    lines = []
    if counts[top] >= 3 or missing:
        lines.append(t(lang, "saju.strong", element=sc.elements[top]["name"][lang], count=counts[top], total=total,
                       line=sc.elements[top]["strong"][lang]))
    else:
        lines.append(t(lang, "saju.even"))
    for e in missing[:2]:
        lines.append(t(lang, "saju.missing", element=sc.elements[e]["name"][lang], line=sc.elements[e]["missing"][lang]))
    return lines


def _gods_text(chart: Chart, lang: str) -> str:
    sc = content()
    names = {"ko": {"year": "년", "month": "월", "day": "일", "hour": "시"},
             "en": {"year": "year", "month": "month", "day": "day", "hour": "hour"}}[lang]
    parts = []
    for pos, (stem_god, branch_god) in chart_gods(chart).items():
        top = sc.gods[stem_god][lang] if stem_god else ("일간" if lang == "ko" else "day master")
        parts.append(f"{names[pos]} {top}/{sc.gods[branch_god][lang]}")
    return ", ".join(parts)


def chart_lines(chart: Chart, lang: str) -> list[str]:
    """Pillars, day master and its image, trait, balance, ten gods: no date, no time."""
    sc = content()
    hour = sc.pillar_name(chart.hour, lang) if chart.hour else t(lang, "saju.hour_unknown")
    stem = chart.day_master
    return [
        t(lang, "saju.pillars", year=sc.pillar_name(chart.year, lang), month=sc.pillar_name(chart.month, lang),
          day=sc.pillar_name(chart.day, lang), hour=hour),
        t(lang, "saju.day_master", stem=sc.stem_name(stem, lang), image=sc.stems[stem]["image"][lang]),
        sc.stems[stem]["trait"][lang],
        *_balance_lines(chart, lang),
        t(lang, "saju.gods", gods=_gods_text(chart, lang)),
    ]


def render_chart(chart: Chart, lang: str, zone_note: str = "") -> str:
    """The short reading under the /saju picture."""
    lines = [t(lang, "saju.title"), "", *chart_lines(chart, lang), ""]
    if chart.hour is None:
        lines.append(t(lang, "saju.no_time"))
    if chart.term_day:
        lines.append(t(lang, "saju.term_day", term=t(lang, f"term.{chart.term_day}")))
    if zone_note:
        lines.append(zone_note)
    lines.append(t(lang, "saju.footer"))
    return "\n".join(line for line in lines if line is not None)


def ai_context(chart: Chart, lang: str) -> str:
    """What the AI reading is given: the chart only (never the birth date or time)."""
    sc = content()
    counts = element_balance(chart)
    notes = []
    if chart.hour is None:
        notes.append(t(lang, "saju.ctx_no_time"))
    if chart.term_day:
        notes.append(t(lang, "saju.ctx_term_day", term=t(lang, f"term.{chart.term_day}")))
    stem = chart.day_master
    return t(lang, "ai.ctx.saju",
             pillars=" / ".join(sc.pillar_name(p, lang) for _, p in chart.pillars()),
             stem=sc.stem_name(stem, lang), image=sc.stems[stem]["image"][lang],
             balance=", ".join(f"{sc.elements[e]['name'][lang]} {counts[e]}" for e in ELEMENTS),
             gods=_gods_text(chart, lang), notes="; ".join(notes) or "-")


def _title(ny: NewYear, lang: str) -> str:
    from bot.core.fortune.loader import load_zodiac_names

    sc = content()
    animals = load_zodiac_names()[1]
    return t(lang, "newyear.title", year=ny.year, pillar=sc.pillar_name(ny.pillar, lang),
             color=sc.elements[ny.pillar.stem_element]["year_color"][lang],
             animal=animals[animal_code(ny.year)].get(lang))


def render_newyear_summary(ny: NewYear, chart: Chart) -> str:
    lang = ny.lang
    sc = content()
    g = sc.groups[ny.group]
    lines = [_title(ny, lang), "",
             t(lang, "newyear.year_line", stem=sc.stem_name(chart.day_master, lang), group=g["name"][lang],
               gloss=g["gloss"][lang]),
             ny.overall]
    if chart.hour is None:
        lines.append(t(lang, "newyear.three_pillars"))
    lines += ["", ny.closing]
    return "\n".join(lines)


def render_newyear_detail(ny: NewYear) -> str:
    lang = ny.lang
    sc = content()
    lines = [t(lang, "newyear.detail_title", year=ny.year), "", t(lang, "newyear.areas_title")]
    lines += [f"{t(lang, f'newyear.area.{a}')}: {ny.areas[a]}" for a in AREAS]
    lines += ["", t(lang, "newyear.months_title")]
    for m in ny.months:
        lines.append(t(lang, "newyear.month_line", month=m.start.month, month_name=_MONTHS_EN[m.start.month - 1],
                       day=m.start.day, pillar=sc.pillar_name(m.pillar, lang), text=m.text))
    lines += ["", ny.closing]
    return "\n".join(lines)
