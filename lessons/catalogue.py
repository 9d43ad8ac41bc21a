"""The lesson catalogue as the planner sees it: plain data loaded in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from course import planner
from course.models import Course
from lessons.models import Lesson


def course_rules(course: Course) -> planner.Rules:
    return planner.Rules(
        length_months=course.length_months,
        checkin_interval_weeks=course.checkin_interval_weeks,
        checkin_months=tuple(course.checkin_months),
    )


@dataclass
class Catalogue:
    """Every course's current lessons (sorted for the planner), their versions and rules. A
    retired lesson (its file removed) is in `by_id`, so the history that holds it still reads
    right, but not in `lessons`: it is never planned again."""

    lessons: dict[int, list[planner.LessonInfo]] = field(default_factory=dict)
    by_id: dict[int, planner.LessonInfo] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    rules: dict[int, planner.Rules] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Catalogue:
        catalogue = cls(rules={course.pk: course_rules(course) for course in Course.objects.all()})
        by_course: dict[int, list[planner.LessonInfo]] = defaultdict(list)
        rows = Lesson.objects.filter(current_version__isnull=False).values_list(
            "id", "course_id", "slug", "kind", "stage", "destinations", "month", "order", "current_version_id",
            "professions", "license_plans", "pay_needs", "not_for", "essential_by", "trigger_stage", "retired_at",
        )  # fmt: skip
        for (lesson_id, course_id, slug, kind, stage, destinations, month, order, version_id, professions,
             license_plans, pay_needs, not_for, essential_by, trigger_stage, retired_at) in rows:  # fmt: skip
            info = planner.LessonInfo(
                lesson_id, slug, kind, stage, tuple(destinations), month, order, tuple(professions),
                tuple(license_plans), tuple(pay_needs), tuple(not_for), essential_by, trigger_stage,
            )  # fmt: skip
            if retired_at is None:
                by_course[course_id].append(info)
            catalogue.by_id[lesson_id] = info
            catalogue.versions[lesson_id] = version_id
        catalogue.lessons = {course_id: planner.sort_catalogue(items) for course_id, items in by_course.items()}
        return catalogue

    def kind_of(self, lesson_id: int) -> str:
        info = self.by_id.get(lesson_id)
        return info.kind if info else ""
