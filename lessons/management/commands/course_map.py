from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from course.coverage import PATH_STAGES, course_map
from course.models import Course
from lessons import suggest
from lessons.catalogue import Catalogue


class Command(BaseCommand):
    help = (
        "Print the course map from the database: for each destination, lessons per stage and course "
        "month (lessons for any stage or destination count everywhere they apply). A cell marked ! "
        "is a gap: a reader who stays at that stage on that track gets no email some week of that "
        "month. Exits 1 when there is any gap."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--course", required=True, metavar="SLUG", help="The course to map.")

    def handle(self, *args, course: str, **options) -> None:
        found = Course.objects.filter(slug=course).first()
        if found is None:
            known = list(Course.objects.order_by("slug").values_list("slug", flat=True))
            hint = suggest.did_you_mean(course, known)
            listed = ", ".join(known) if known else "none: run import_lessons lessons/content first"
            raise CommandError(f"no course {course!r}" + (f": {hint}" if hint else "") + f" (known courses: {listed})")
        catalogue = Catalogue.load()
        words = found.words
        result = course_map(catalogue.rules[found.pk], catalogue.lessons.get(found.pk, []), words.destination_values)
        gaps = result.gap_cells()
        months = range(1, result.months + 1)
        self.stdout.write(f"{found.title}: lessons by stage (rows) and course month (columns); ! = gap")
        for destination in words.destinations:
            self.stdout.write(f"\n{destination.label} ({destination.slug})")
            self.stdout.write("  " + "".ljust(14) + "".join(f"{m:>4}" for m in months))
            for stage in words.stages:
                cells = []
                for month in months:
                    mark = "!" if (month, stage.slug, destination.slug) in gaps else " "
                    cells.append(f"{result.counts[(month, stage.slug, destination.slug)]:>3}{mark}")
                self.stdout.write("  " + stage.slug.ljust(14) + "".join(cells))
        if result.gaps:
            paths = sorted({(gap.stage, gap.destination) for gap in result.gaps})
            raise CommandError(
                f"{len(result.gaps)} week(s) without an email on {len(paths)} path(s), e.g. "
                f"{paths[0][0]} on {paths[0][1]}"
            )
        self.stdout.write(f"\nno gaps: every stage path ({', '.join(PATH_STAGES)}) on every track has weekly email")
