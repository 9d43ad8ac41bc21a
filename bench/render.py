"""Render benchmark: an uncached render of each shipped lesson (markdown, sanitising, layout,
CSS inlining) against the cached per-reader work that every send does: choose the reader's
variant (which `::: for` sections they see), look the rendered copy up, personalise it.

Two cases: the shipped lessons as written, and the same lessons with two `::: for` sections
each (one by profession, one "not for" change-setting), read by six reader profiles, so the
cache holds several variants per version. Left out: reading the rows from the database, the
welcome's plan block (built once per reader before the message is, see emails.read_ahead),
MIME building and the ESP call.

Run: .venv/bin/python bench/render.py   (target: per-reader work <= 1% of an uncached render)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from lessons import sections  # noqa: E402
from lessons.files import course_folders, read_course_folder  # noqa: E402
from lessons.rendering import Block, render_lesson  # noqa: E402

VALUES = {
    "first_name": "Jordan <script>",
    "destination_name": "medical affairs",
    "stage_name": "searching",
    "course_month": "4",
    "preferences_url": "https://course.example.com/p/abc123/",
    "profession_name": "nurse practitioner",
    "specialty": "family practice",
    "license_plan": "keep it active",
    "pay_need": "we can absorb a modest drop for a while",
    "your_plan": Block("The plan, as text.", "<p>The plan, as HTML.</p>"),
}
PROFILES = [
    {"profession": profession, "license_plan": plan, "pay_need": "match", "destination": destination}
    for profession, plan, destination in [
        ("rn", "keep", "payer"), ("np", "let-go", "medical-affairs"), ("physician", "keep", "change-setting"),
        ("pa", "unsure", "consulting"), ("pharmacist", "keep", "medical-affairs"), ("rn", "keep", "change-setting"),
    ]
]  # fmt: skip


def with_sections(body: str) -> str:
    """The body with its middle paragraphs for nurses and NPs only, and its end not for change-setting."""
    paragraphs = body.split("\n\n")
    third = max(1, len(paragraphs) // 3)
    head, middle, tail = paragraphs[:third], paragraphs[third : 2 * third], paragraphs[2 * third :]
    return "\n\n".join([*head, "::: for profession=rn,np\n" + "\n\n".join(middle) + "\n:::",
                          "::: for not_for=change-setting\n" + "\n\n".join(tail) + "\n:::"])  # fmt: skip


def measure(lessons, label: str) -> None:
    uncached, per_reader, variants = [], [], 0
    for number, (title, body, subject) in enumerate(lessons, start=1):
        render_lesson.cache_clear()
        sections.parse.cache_clear()
        start = time.perf_counter()
        rendered = render_lesson(number, subject, body, title, "", sections.variant_for(body, PROFILES[0]))
        uncached.append(time.perf_counter() - start)
        for profile in PROFILES:  # warm the cache with every variant, as a day of sending would
            render_lesson(number, subject, body, title, "", sections.variant_for(body, profile))
        variants += len({sections.variant_for(body, profile) for profile in PROFILES})
        rounds = 50
        start = time.perf_counter()
        for _ in range(rounds):
            for profile in PROFILES:
                variant = sections.variant_for(body, profile)
                render_lesson(number, subject, body, title, "", variant).personalise(VALUES)
        per_reader.append((time.perf_counter() - start) / (rounds * len(PROFILES)))
        assert "Jordan &lt;script&gt;" in rendered.personalise(VALUES).html or "first_name" not in body
    u, p = statistics.median(uncached), statistics.median(per_reader)
    print(f"{label}")
    print(f"  lessons rendered:            {len(lessons)}  ({variants / len(lessons):.1f} variants per version)")
    print(f"  uncached render, median:     {u * 1000:8.3f} ms  (mean {statistics.mean(uncached) * 1000:.3f} ms)")
    print(f"  per-reader work, median:     {p * 1000:8.3f} ms  (mean {statistics.mean(per_reader) * 1000:.3f} ms)")
    print(f"  per-reader / uncached:       {p / u:8.2%}  (target <= 1%)")


def main() -> None:
    lessons = [
        (course.title, lesson.body, lesson.subject)
        for folder in course_folders(ROOT / "lessons" / "content")
        for course in [read_course_folder(folder)]
        for lesson in course.lessons
    ]
    measure(lessons, "shipped lessons, as written")
    measure([(title, with_sections(body), subject) for title, body, subject in lessons],
            "the same lessons with two '::: for' sections each, six reader profiles")  # fmt: skip


if __name__ == "__main__":
    main()
