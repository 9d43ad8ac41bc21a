"""Render benchmark: an uncached render of each shipped lesson (markdown, sanitising, layout,
CSS inlining) against the cached per-reader personalisation that every send does.

Run: .venv/bin/python bench/render.py   (target: personalise <= 1% of an uncached render)
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

from lessons.files import course_folders, read_course_folder  # noqa: E402
from lessons.rendering import render_lesson  # noqa: E402

VALUES = {
    "first_name": "Jordan <script>",
    "destination_name": "medical affairs",
    "stage_name": "searching",
    "course_month": "4",
    "preferences_url": "https://course.example.com/p/abc123/",
}


def main() -> None:
    lessons = [
        (course.title, lesson)
        for folder in course_folders(ROOT / "lessons" / "content")
        for course in [read_course_folder(folder)]
        for lesson in course.lessons
    ]
    uncached, personalise = [], []
    for number, (title, lesson) in enumerate(lessons, start=1):
        render_lesson.cache_clear()
        start = time.perf_counter()
        rendered = render_lesson(number, lesson.subject, lesson.body, title)
        uncached.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(200):
            render_lesson(number, lesson.subject, lesson.body, title).personalise(VALUES)
        personalise.append((time.perf_counter() - start) / 200)
        assert "Jordan &lt;script&gt;" in rendered.personalise(VALUES).html or "first_name" not in lesson.body
    u, p = statistics.median(uncached), statistics.median(personalise)
    print(f"lessons rendered:            {len(lessons)}")
    print(f"uncached render, median:     {u * 1000:8.3f} ms  (mean {statistics.mean(uncached) * 1000:.3f} ms)")
    print(f"cached personalise, median:  {p * 1000:8.3f} ms  (mean {statistics.mean(personalise) * 1000:.3f} ms)")
    print(f"personalise / uncached:      {p / u:8.2%}  (target <= 1%)")


if __name__ == "__main__":
    main()
