"""Pay figures with their sources: a course folder's `pay.yaml`, placed into lessons.

The file names each source once (who published it, the year, the address) and each figure once
(what it is, how much, what it includes, which source). A lesson uses a figure inline,

    A staff nurse's median pay is {{ pay:rn }}.

which reads "$86,070 median (BLS OEWS, May 2023)", or a whole group as a table on a line of its own:

    [[pay-table medical-affairs]]

Every lesson that uses a figure ends with the full line of each source it used, so no number
travels without where it came from. Figures are placed when the files are read, as snippets are
(`lessons.snippets`): changing `pay.yaml` makes a new version of every lesson that uses a changed
figure on the next import, and an email already sent keeps the figures it was sent with.
`validate_lessons` fails on an unknown figure or group, naming the closest known one.

The plan page's household worksheet (`subscribers.plan.worksheet`) reads the same file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

PAY_FILE = "pay.yaml"
CONTENT_DIR = Path(__file__).resolve().parent / "content"
FIGURE_RE = re.compile(r"\{\{\s*pay:([^}\s]*)\s*\}\}")
TABLE_RE = re.compile(r"^[ \t]*\[\[\s*pay-table\b[ \t]*([^\]\s]*)[ \t]*\]\][ \t]*$", re.MULTILINE)
# What a figure's number means: a median or mean, a range (low to high), a floor ("over"), or
# one published amount (an offer letter's base salary, a posted rate).
KINDS = ("median", "mean", "range", "over", "amount")
KEY_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SOURCES_HEADING = "**Where these figures come from**"


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    short: str
    year: int
    url: str
    period: str = ""

    @property
    def when(self) -> str:
        return self.period or str(self.year)

    @property
    def cited(self) -> str:
        """The short form written beside a number: "BLS OEWS, May 2023"."""
        return self.short if self.when in self.short else f"{self.short}, {self.when}"

    @property
    def line(self) -> str:
        """The full source line (markdown)."""
        return f"{self.cited}: {self.name}. <{self.url}>"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    kind: str
    includes: str
    source: Source
    value: int | None = None
    low: int | None = None
    high: int | None = None
    groups: tuple[str, ...] = ()
    who: tuple[str, ...] = ()  # professions this figure is a benchmark or a common landing for

    @property
    def amount(self) -> str:
        """The number in words: "$86,070 median", "$499,000 to $543,000", "over $100,000"."""
        if self.kind == "range":
            return f"{dollars(self.low)} to {dollars(self.high)}"
        if self.kind == "over":
            return f"over {dollars(self.value)}"
        qualifier = {"median": " median", "mean": " average"}.get(self.kind, "")
        text = f"{dollars(self.value)}{qualifier}"
        if self.low is not None and self.high is not None:
            text += f", most between {dollars(self.low)} and {dollars(self.high)}"
        return text

    @property
    def central(self) -> int:
        """The one number a comparison uses: the median or mean, a range's midpoint, a floor."""
        if self.kind == "range":
            return (self.low + self.high) // 2
        return self.value

    @property
    def text(self) -> str:
        """As written inline in a lesson: the amount and its short source."""
        return f"{self.amount} ({self.source.cited})"


@dataclass
class PayTable:
    sources: dict[str, Source] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return sorted({group for figure in self.figures.values() for group in figure.groups})

    def group(self, name: str) -> list[Figure]:
        return [figure for figure in self.figures.values() if name in figure.groups]


def dollars(amount: int) -> str:
    return f"${amount:,}"


def read_pay_file(path: Path) -> tuple[PayTable | None, list[tuple[int, str]]]:
    """The course's pay table (None when the folder has no pay file), and (1-based line, message)
    for each problem in it; a figure with a problem is left out of the table."""
    if not path.is_file():
        return None, []
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError) as exc:
        return PayTable(), [(0, f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return PayTable(), [((mark.line + 1) if mark else 1, f"bad YAML: {str(exc).splitlines()[0]}")]
    lines = text.splitlines()
    problems: list[tuple[int, str]] = []
    if not isinstance(data, dict) or set(data) - {"sources", "figures"}:
        return PayTable(), [(1, "the pay file holds two mappings: sources and figures")]
    table = PayTable()
    for key, item in (data.get("sources") or {}).items():
        line = _line_of(lines, key)
        source = _source(str(key), item, line, problems)
        if source is not None:
            table.sources[source.key] = source
    start = next((number for number, line in enumerate(lines) if line.startswith("figures:")), 0)
    for key, item in (data.get("figures") or {}).items():
        figure = _figure(str(key), item, table.sources, _line_of(lines, key, start), problems)
        if figure is not None:
            table.figures[figure.key] = figure
    return table, problems


def _source(key: str, item, line: int, problems: list) -> Source | None:
    if not isinstance(item, dict):
        problems.append((line, f"source {key!r} must be a mapping"))
        return None
    missing = [name for name in ("name", "short", "year", "url") if not item.get(name)]
    if missing:
        problems.append((line, f"source {key!r} is missing {', '.join(missing)}"))
        return None
    year, url = item["year"], str(item["url"])
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        problems.append((line, f"source {key!r}: year must be a year like 2024 (got {year!r})"))
        return None
    if not url.startswith("https://") or any(char in url for char in " ()<>"):
        problems.append((line, f"source {key!r}: url must be an https address without spaces or brackets"))
        return None
    return Source(key, str(item["name"]), str(item["short"]), year, url, str(item.get("period") or ""))


def _figure(key: str, item, sources: dict[str, Source], line: int, problems: list) -> Figure | None:
    def bad(message: str) -> None:
        problems.append((line, f"figure {key!r}: {message}"))

    if not KEY_RE.match(key):
        bad("the key must be lowercase words joined by hyphens")
        return None
    if not isinstance(item, dict):
        bad("must be a mapping")
        return None
    missing = [name for name in ("label", "kind", "includes", "source") if not item.get(name)]
    if missing:
        bad(f"missing {', '.join(missing)} (a figure without its source is not written)")
        return None
    kind, source = str(item["kind"]), str(item["source"])
    if kind not in KINDS:
        bad(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
        return None
    if source not in sources:
        bad(f"unknown source {source!r}{_suggest(source, sources)}")
        return None
    numbers = {name: item.get(name) for name in ("value", "low", "high")}
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0) for v in numbers.values()):
        bad("value, low and high must be whole dollar amounts")
        return None
    if kind == "range" and not (numbers["low"] and numbers["high"] and numbers["low"] < numbers["high"]):
        bad("a range needs low and high, low below high")
        return None
    if kind != "range" and not numbers["value"]:
        bad(f"a {kind} needs a value")
        return None
    if kind != "range" and (numbers["low"] is None) != (numbers["high"] is None):
        bad("give both low and high, or neither")
        return None
    words = " ".join(str(item.get(name, "")) for name in ("label", "includes"))
    if "|" in words or "{{" in words or "[[" in words:
        bad("label and includes are plain words (no |, {{ or [[)")
        return None
    groups, who = item.get("groups") or [], item.get("who") or []
    if not all(isinstance(v, str) and KEY_RE.match(v) for v in [*groups, *who]):
        bad("groups and who are lists of lowercase words")
        return None
    return Figure(
        key=key, label=str(item["label"]), kind=kind, includes=" ".join(str(item["includes"]).split()),
        source=sources[source], value=numbers["value"], low=numbers["low"], high=numbers["high"],
        groups=tuple(groups), who=tuple(who),
    )  # fmt: skip


def place(body: str, table: PayTable | None) -> tuple[str, list[tuple[int, str]]]:
    """The body with each figure and table tag replaced, the used sources listed at its end, and
    (0-based line, message) for each tag naming nothing in the table (left as written)."""
    if not FIGURE_RE.search(body) and not TABLE_RE.search(body):
        return body, []
    problems: list[tuple[int, str]] = []
    used: dict[str, Source] = {}
    if table is None:
        line = body.count("\n", 0, (FIGURE_RE.search(body) or TABLE_RE.search(body)).start())
        return body, [(line, f"pay figures are used but the course has no {PAY_FILE}")]

    def table_tag(match: re.Match) -> str:
        figures = table.group(match[1])
        if not figures:
            line = body.count("\n", 0, match.start())
            problems.append((line, f"unknown pay-table group {match[1]!r}{_suggest(match[1], table.groups)}"))
            return match[0]
        used.update((figure.source.key, figure.source) for figure in figures)
        return render_table(figures)

    def figure_tag(match: re.Match) -> str:
        figure = table.figures.get(match[1])
        if figure is None:
            line = body.count("\n", 0, match.start())
            problems.append((line, f"unknown pay figure {match[1]!r}{_suggest(match[1], table.figures)}"))
            return match[0]
        used[figure.source.key] = figure.source
        return figure.text

    placed = FIGURE_RE.sub(figure_tag, TABLE_RE.sub(table_tag, body))
    if used:
        lines = "\n".join(f"- {source.line}" for source in sorted(used.values(), key=lambda s: s.short))
        placed = f"{placed.rstrip()}\n\n{SOURCES_HEADING}\n\n{lines}\n"
    return placed, problems


def render_table(figures: list[Figure]) -> str:
    rows = [f"| {f.label} | {f.amount} | {f.includes} | {f.source.cited} |" for f in figures]
    return "\n".join(["| Role | Pay | What it includes | Source |", "| --- | --- | --- | --- |", *rows])


def tag_problems(text: str) -> list[str]:
    """Pay tags where they cannot stand (a subject line is one line of words)."""
    return ["pay figures go in the body, not the subject"] if FIGURE_RE.search(text) or TABLE_RE.search(text) else []


def load(course_slug: str, content_dir: Path | None = None) -> PayTable | None:
    """The pay table of a shipped course (its folder under `content_dir`), or None."""
    folder = (content_dir or CONTENT_DIR) / course_slug
    path = folder / PAY_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _load(path, stamp)


@lru_cache(maxsize=16)
def _load(path: Path, stamp: int) -> PayTable | None:
    table, _ = read_pay_file(path)
    return table


def _line_of(lines: list[str], key, start: int = 0) -> int:
    """1-based line of `key:` indented under a top-level mapping, searching from line index `start`."""
    pattern = re.compile(rf"^\s+{re.escape(str(key))}\s*:")
    found = (number for number, line in enumerate(lines[start:], start=start + 1) if pattern.match(line))
    return next(found, start + 1)


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    if close:
        return f" (did you mean {close[0]!r}?)"
    listed = sorted(known)
    return f" (known: {', '.join(listed[:12])}{', …' if len(listed) > 12 else ''})" if listed else ""
