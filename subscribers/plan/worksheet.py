"""The household worksheet on the plan page: the reader's own pay benchmark (their profession, and
for a physician their specialty group) against each destination figure of the course's pay file,
with the gap in dollars and percent, read against what they told us the household needs.

Every figure is one of `lessons.pay`'s, shown with its source; a destination without a sourced
figure is named as such rather than guessed. Built fresh on each visit, like the rest of the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from course.vocabulary import Destination, PayNeed, Profession
from lessons import pay
from lessons.pay import Figure, PayTable, Source
from subscribers.models import Subscriber

# Free-text specialties → the physician benchmark that fits them (first match wins).
SPECIALTY_GROUPS = (
    ("physician-hospital-medicine", r"hospitalist|hospital medicine|nocturnist"),
    # The figure's own specialties (and plastic surgery and cardiology, also above $500,000 in the report).
    ("physician-surgical-procedural", r"anesth|anaesth|radiolog|ortho|plastic|cardiol"),
    ("physician-primary-care",
     r"primary|family|internal medicine|internist|general medicine|\bim\b|\bfm\b|pediatric|paediatric|"
     r"peds|geriatric|general practi|\bgp\b"),
)  # fmt: skip
# Within this much below the benchmark, a destination counts as "about the same".
NEAR = -5.0
# A drop deeper than this is more than modest.
MODEST = -20.0
# Tracks whose own pay reality is the reader's profession in a new setting.
SAME_PAY_TRACKS = (Destination.CHANGE_SETTING,)


@dataclass(frozen=True)
class Row:
    track: str
    figure: Figure
    gap_dollars: int | None
    gap_percent: float | None
    reading: str
    yours: bool

    @property
    def gap(self) -> str:
        if self.gap_dollars is None:
            return ""
        sign = "+" if self.gap_dollars >= 0 else "\u2212"  # a minus sign
        floor = "at least " if self.figure.kind == "over" else ""
        return f"{floor}{sign}{pay.dollars(abs(self.gap_dollars))} ({sign}{abs(self.gap_percent):.0f}%)"


@dataclass(frozen=True)
class Worksheet:
    benchmark: Figure | None
    benchmark_why: str
    need: str
    rows: list[Row]
    summary: str
    unsourced: list[str]  # tracks with no sourced figure for this reader
    sources: list[Source]


def build(subscriber: Subscriber, table: PayTable | None = None) -> Worksheet | None:
    """The reader's worksheet, or None when their course has no pay file."""
    table = table if table is not None else pay.load(subscriber.course.slug)
    if table is None or not table.figures:
        return None
    benchmark, why = benchmark_for(subscriber, table)
    need = PayNeed(subscriber.pay_need)
    profession = subscriber.profession or Profession.OTHER
    own = Destination(subscriber.destination)
    rows, unsourced = [], []
    tracks = sorted((d for d in Destination if d != Destination.UNDECIDED), key=lambda d: (d != own, d.label))
    for track in tracks:
        if track in SAME_PAY_TRACKS:
            continue
        figures = [f for f in table.group(track.value) if not f.who or profession in f.who]
        if not figures:
            unsourced.append(track.label)
        for figure in figures:
            rows.append(_row(track, figure, benchmark, need, track == own))
    summary = _summary(benchmark, need, rows, own)
    used = {row.figure.source.key: row.figure.source for row in rows}
    if benchmark is not None:
        used[benchmark.source.key] = benchmark.source
    return Worksheet(benchmark, why, need.label, rows, summary, unsourced, sorted(used.values(), key=lambda s: s.short))


def benchmark_for(subscriber: Subscriber, table: PayTable) -> tuple[Figure | None, str]:
    """The figure that stands for the reader's current pay, and why that one."""
    profession = subscriber.profession
    if profession == Profession.PHYSICIAN:
        specialty = (subscriber.specialty or "").lower()
        for key, pattern in SPECIALTY_GROUPS:
            if re.search(pattern, specialty) and key in table.figures:
                return table.figures[key], f"your specialty ({subscriber.specialty}) reads as this group"
        figure = table.figures.get("physician-specialist")
        if subscriber.specialty:
            why = (
                f"the report's figure for your specialty ({subscriber.specialty}) is not in our file, so this is "
                "all specialists together: surgical and procedural fields usually sit above it, so put your "
                "specialty's own line from the report in its place"
            )
        else:
            why = "you did not name a specialty, so this is all specialists together"
        return figure, why
    if profession and profession in table.figures:
        return table.figures[profession], f"the national figure for {Profession(profession).label.lower()}s"
    return None, "we have no sourced national figure for your profession"


def _row(track: Destination, figure: Figure, benchmark: Figure | None, need: PayNeed, yours: bool) -> Row:
    if benchmark is None:
        return Row(track.label, figure, None, None, "Compare it with your own pay.", yours)
    gap = figure.central - benchmark.central
    percent = 100.0 * gap / benchmark.central
    return Row(track.label, figure, gap, percent, reading(percent, need, floor=figure.kind == "over"), yours)


def reading(percent: float, need: PayNeed, floor: bool = False) -> str:
    """What a gap of `percent` against the benchmark means for a household with this need."""
    if percent >= NEAR:
        return "At or above your benchmark." if percent >= 0 else "About the same as your benchmark."
    prefix = "A floor, not a typical figure: many earn more. At the floor, " if floor else ""
    if percent >= MODEST:
        text = {
            PayNeed.MATCH: "a drop your household said it cannot take: aim for the senior end, or bridge it "
            "with per-diem clinical work.",
            PayNeed.MODEST_DROP: "a modest drop: workable for a while if your household floor still holds.",
            PayNeed.FLEXIBLE: "a modest drop, which you said you can take.",
            PayNeed.UNSURE: "a modest drop: check it against your household floor before you aim here.",
        }[need]
    else:
        text = {
            PayNeed.MATCH: "a large cut: not realistic for your household at this level without another income.",
            PayNeed.MODEST_DROP: "more than a modest drop: realistic only at a senior level or with a bridge.",
            PayNeed.FLEXIBLE: "a large cut. You said pay is not the deciding factor; count it anyway.",
            PayNeed.UNSURE: "a large cut: work out your household floor before you aim here.",
        }[need]
    return prefix + text if prefix else text[0].upper() + text[1:]


def _summary(benchmark: Figure | None, need: PayNeed, rows: list[Row], own: Destination) -> str:
    if benchmark is None:
        return ("We have no sourced figure for your profession, so the gaps are left blank: put your own "
                "total pay beside each figure.")  # fmt: skip
    near = [row for row in rows if row.gap_percent is not None and row.gap_percent >= NEAR]
    mine = [row for row in rows if row.yours]
    parts = [f"{len(near)} of the {len(rows)} destination figures below are within 5% of your benchmark or above it."]
    if own in SAME_PAY_TRACKS:
        parts.append("You are changing setting: your pay stays close to your profession's figure, and the "
                     "setting (schedule, call, employer) moves it more than the title does.")  # fmt: skip
    elif mine:
        best = max(mine, key=lambda row: row.gap_percent)
        parts.append(f"On your track ({best.track.lower()}) the closest is {best.figure.label.lower()}: {best.gap}.")
    elif own != Destination.UNDECIDED:
        parts.append(f"No sourced figure for {own.label.lower()} yet: collect ten posted ranges instead.")
    if need == PayNeed.UNSURE:
        parts.append("You have not set your household number yet; until you do, read the gaps as questions.")
    return " ".join(parts)
