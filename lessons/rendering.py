"""Markdown lesson → an HTML email and a plain-text part.

The expensive part (markdown, sanitising, layout, CSS inlining) runs once per lesson version
and is cached; each reader's copy is then made by cheap substitution of a few placeholders.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

import css_inline
import markdown
import nh3
from django.template.loader import render_to_string

from lessons import sections

# The only placeholders an author may use, written `{{ name }}` (README, "Writing lessons").
PLACEHOLDERS = (
    "first_name", "destination_name", "stage_name", "course_month", "preferences_url",
    "profession_name", "specialty", "license_plan", "pay_need", "your_plan",
)  # fmt: skip
# Placeholders that stand for a whole block (a list, headings), each on a line of its own; the
# value is a `Block` we build, with its own escaped HTML.
BLOCKS = ("your_plan",)
# Placeholders whose values are ours, so they may stand inside a link's address; the others
# are the reader's own words and stay text (a first name of `javascript:…` is never a link).
LINK_SAFE = ("preferences_url", "course_month")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# While rendering, each placeholder becomes an inert ASCII token that markdown, the
# sanitiser and the inliner pass through untouched; personalising swaps tokens for values.
TOKEN_RE = re.compile(r"PPVAR(\d+)END")
# Where a link's address is written: markdown `](…)`, `<…>` autolinks, and raw href/src.
LINK_TARGET_RES = (
    re.compile(r"\]\(([^)]*)\)"),
    re.compile(r"<((?:https?|mailto):[^>]*)>"),
    re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE),
)
_URL_ATTRIBUTE_RE = re.compile(r"""\b(href|src)=(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_LINK_SAFE_TOKENS = {f"PPVAR{PLACEHOLDERS.index(name)}END" for name in LINK_SAFE}
# A link to another lesson of the course, `[text](lesson:slug)`: it opens in the reader's own
# lesson archive (under their signed preferences link).
LESSON_LINK_RE = re.compile(r"\]\(lesson:([a-z0-9-]+)\)")
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "smarty"]
_INLINER = css_inline.CSSInliner(keep_at_rules=True, keep_style_tags=False)


def unknown_placeholders(text: str) -> set[str]:
    return {name for name in PLACEHOLDER_RE.findall(text) if name not in PLACEHOLDERS} | (
        {"{%"} if "{%" in text else set()
    )


@dataclass(frozen=True)
class Block:
    """The value of a block placeholder: plain text for the text part, HTML (already escaped,
    styled inline) for the HTML part."""

    text: str
    html: str

    def __str__(self) -> str:
        return self.text


def misplaced_blocks(line: str) -> set[str]:
    """Block placeholders on this line that do not stand on it alone."""
    named = set(PLACEHOLDER_RE.findall(line)) & set(BLOCKS)
    return {name for name in named if not re.fullmatch(rf"\s*\{{\{{\s*{name}\s*\}}\}}\s*", line)}


def unsafe_placeholders(text: str) -> set[str]:
    """Placeholders written inside a link's address that are not ours to put there."""
    found = set()
    for pattern in LINK_TARGET_RES:
        for match in pattern.finditer(text):
            target = next((group for group in match.groups() if group), "")
            found |= {name for name in PLACEHOLDER_RE.findall(target) if name not in LINK_SAFE}
    return found


def _reader_values_out_of_addresses(page: str) -> str:
    """Defence behind validation: in rendered href/src values, only our own placeholders stay."""

    def clean(match: re.Match) -> str:
        value = TOKEN_RE.sub(lambda m: m[0] if m[0] in _LINK_SAFE_TOKENS else "", match[3])
        return f"{match[1]}={match[2]}{value}{match[2]}"

    return _URL_ATTRIBUTE_RE.sub(clean, page)


def _tokenise(text: str) -> str:
    text = LESSON_LINK_RE.sub(lambda m: f"]({{{{ preferences_url }}}}lessons/{m[1]}/)", text)
    return PLACEHOLDER_RE.sub(lambda m: f"PPVAR{PLACEHOLDERS.index(m[1])}END" if m[1] in PLACEHOLDERS else m[0], text)


@dataclass(frozen=True)
class RenderedLesson:
    """A lesson version rendered for everyone: placeholders are still tokens."""

    subject: str
    text: str
    html: str

    def personalise(self, values: dict[str, str]) -> RenderedLesson:
        given = [values.get(name, "") for name in PLACEHOLDERS]
        ordered = [str(value) for value in given]
        escaped = [value.html if isinstance(value, Block) else html.escape(str(value)) for value in given]
        # A header is one line: a value with a line break (a name edited in the admin) must
        # neither inject a header nor make every send of this email fail.
        one_line = [" ".join(value.split()) for value in ordered]
        return RenderedLesson(
            subject=TOKEN_RE.sub(lambda m: one_line[int(m[1])], self.subject),
            text=TOKEN_RE.sub(lambda m: ordered[int(m[1])], self.text),
            html=TOKEN_RE.sub(lambda m: escaped[int(m[1])], self.html),
        )

    def merge_fields(self, text_field: str, html_field: str) -> RenderedLesson:
        """The copy for an ESP that fills in each recipient's values itself (batch sending):
        every token becomes the ESP's field, `text_field` / `html_field` formatted with the
        placeholder's name (the HTML field is meant for a value escaped beforehand)."""

        def fields(pattern: str):
            return lambda m: pattern.format(name=PLACEHOLDERS[int(m[1])])

        return RenderedLesson(
            subject=TOKEN_RE.sub(fields(text_field), self.subject),
            text=TOKEN_RE.sub(fields(text_field), self.text),
            html=TOKEN_RE.sub(fields(html_field), self.html),
        )


def markdown_to_text(source: str) -> str:
    """The plain-text part: markdown is already readable; links keep their address."""
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1 (\2)", source)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"^#{1,6}\s*(.+)$", lambda m: m[1].upper(), text, flags=re.MULTILINE)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@lru_cache(maxsize=4096)
def render_lesson(
    version_id: int,
    subject: str,
    body: str,
    course_title: str,
    postal_address: str = "",
    variant: tuple[bool, ...] = (),
) -> RenderedLesson:
    """Render one lesson version for one variant (cached: the arguments are the version's
    immutable content and which of its `::: for` sections are shown, `lessons.sections`).

    The footer says why the reader gets the email, the sender's postal address, and links to
    the reader's plan, their preferences and unsubscribe (all under their signed preferences link).
    """
    body = _tokenise(sections.apply(body, variant))
    preferences = _tokenise("{{ preferences_url }}")
    fragment = nh3.clean(markdown.markdown(body, extensions=MARKDOWN_EXTENSIONS, output_format="html"))
    for name in BLOCKS:  # a block is not a paragraph's text
        token = f"PPVAR{PLACEHOLDERS.index(name)}END"
        fragment = fragment.replace(f"<p>{token}</p>", token)
    page = render_to_string(
        "lessons/email.html",
        {
            "subject": subject,
            "body": fragment,
            "course_title": course_title,
            "preferences_url": preferences,
            "postal_address": postal_address,
        },
    )
    footer = (
        f"\n--\nYou get this email because you enrolled in {course_title}.\n"
        f"Your plan: {preferences}plan/\n"
        f"Pause, change your track, time or email: {preferences}\n"
        f"Unsubscribe: {preferences}unsubscribe/\n"
    ) + (f"{postal_address}\n" if postal_address else "")
    return RenderedLesson(
        subject=_tokenise(subject).replace("\n", " ").strip(),
        text=markdown_to_text(body) + footer,
        html=_reader_values_out_of_addresses(_INLINER.inline(page)),
    )
