"""One place per idea: no two lessons of a course may share a passage of `SHARED_WORDS` words.

Words are compared without case, punctuation or markdown, so a passage copied with a changed
comma or heading mark still counts. Snippets (`lessons.snippets`) are the way to say the same
thing in many lessons: a lesson's `{{> name }}` line is not text, so it never counts, and the
email footer is added at rendering, outside the lesson. A lesson that needs an idea another
lesson owns points to it (`[its subject](lesson:slug)`) in a sentence of its own.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lessons.snippets import USE_RE


class LessonFile(Protocol):
    """What the check reads of a lesson file (lessons.files.LessonFile, which imports this module)."""

    path: Path
    slug: str
    body: str
    body_line: int


SHARED_WORDS = 40
# A word: letters and digits with inner apostrophes or hyphens ("don't", "per-diem", "510(k)" → 510, k).
WORD_RE = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
MARKDOWN_LINK_RE = re.compile(r"\]\([^)]*\)")


@dataclass(frozen=True)
class SharedPassage:
    """A run of at least SHARED_WORDS words found in both lessons (the first copy of it in each)."""

    first: LessonFile
    first_line: int
    second: LessonFile
    second_line: int
    words: int
    start: str

    def message(self) -> str:
        return (
            f"shares a passage of {self.words} words with {self.first.slug} "
            f"({self.first.path.name}:{self.first_line}), starting {self.start!r}: "
            "say it in one lesson and point to it, or make it a snippet"
        )


def words_of(lesson: LessonFile) -> list[tuple[str, int]]:
    """The lesson body's words, normalised, each with its file line."""
    found = []
    for number, line in enumerate(lesson.body.splitlines()):
        if USE_RE.match(line) or line.startswith(":::"):
            continue
        text = MARKDOWN_LINK_RE.sub("]", line).replace("\u2019", "'")
        found.extend((word.lower(), lesson.body_line + number) for word in WORD_RE.findall(text))
    return found


def shared_passages(lessons: list[LessonFile], size: int = SHARED_WORDS) -> list[SharedPassage]:
    """Every pair of lessons sharing a run of `size` or more words, longest run per pair, in file order."""
    texts = [words_of(lesson) for lesson in lessons]
    seen: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    # (earlier lesson, later lesson) -> matching window starts, in the later lesson's order
    matches: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for index, words in enumerate(texts):
        plain = [word for word, _ in words]
        seen_here: set[tuple[str, ...]] = set()
        for start in range(len(plain) - size + 1):
            window = tuple(plain[start : start + size])
            if window in seen_here:
                continue
            seen_here.add(window)
            for earlier, earlier_start in seen.get(window, ()):
                matches.setdefault((earlier, index), []).append((earlier_start, start))
            seen.setdefault(window, []).append((index, start))
    passages = []
    for (a, b), starts in sorted(matches.items(), key=lambda item: item[0][::-1]):
        # Consecutive windows on both sides are one passage; keep the longest.
        best_start, best_length, run_start, run_length = starts[0], 1, starts[0], 1
        for previous, current in itertools.pairwise(starts):
            if current == (previous[0] + 1, previous[1] + 1):
                run_length += 1
            else:
                run_start, run_length = current, 1
            if run_length > best_length:
                best_start, best_length = run_start, run_length
        start_words = " ".join(word for word, _ in texts[b][best_start[1] : best_start[1] + 8])
        passages.append(
            SharedPassage(
                first=lessons[a], first_line=texts[a][best_start[0]][1],
                second=lessons[b], second_line=texts[b][best_start[1]][1],
                words=best_length + size - 1, start=f"{start_words}…",
            )
        )  # fmt: skip
    return passages


def shared_passage_problems(lessons: list[LessonFile]) -> list[tuple[Path, int, str]]:
    """(file, line, message) for each pair of lessons that share a passage, reported on the later file."""
    return [(passage.second.path, passage.second_line, passage.message()) for passage in shared_passages(lessons)]
