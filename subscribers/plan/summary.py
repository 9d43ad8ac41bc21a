"""The reader's plan as a block of an email (`{{ your_plan }}`, the welcome): what they told us
with one consequence per answer, the phases of their year, and their next emails with reasons.

Built from `plan.build`, so the email and the "Your plan" page never disagree. The HTML is
ours, escaped and styled inline (the email layout's inliner has already run when it is filled in).
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from lessons.rendering import Block
from subscribers.models import Subscriber
from subscribers.plan import plan as plans

H3 = "margin: 24px 0 8px; font-size: 17px; line-height: 1.3;"
LIST = "margin: 0 0 16px; padding-left: 22px;"
ITEM = "margin: 0 0 8px;"
P = "margin: 0 0 16px;"
LINK = "color: #1d5fa8;"


def plan_block(subscriber: Subscriber, plan_url: str, now: datetime, emails: int = 8) -> Block:
    plan = plans.build(subscriber, now=now, weeks=emails)
    text, html = [], []

    text.append("WHAT YOU TOLD US, AND WHAT THE PLAN DOES WITH IT\n")
    html.append(f'<h3 style="{H3}">What you told us, and what the plan does with it</h3><ul style="{LIST}">')
    for answer in plan.answers:
        text.append(f"- {answer.question}: {answer.answer}. {answer.consequence}")
        html.append(f'<li style="{ITEM}"><strong>{escape(answer.question)}: {escape(answer.answer)}.</strong> '
                    f"{escape(answer.consequence)}</li>")  # fmt: skip
    html.append("</ul>")

    text.append("\nYOUR TWELVE MONTHS\n")
    html.append(f'<h3 style="{H3}">Your twelve months</h3><ul style="{LIST}">')
    for phase in plan.phases:
        here = " (you are here)" if phase.now else ""
        text.append(f"- {phase.months.capitalize()}: {phase.title}{here}. {phase.what.capitalize()}.")
        html.append(f'<li style="{ITEM}"><strong>{escape(phase.months.capitalize())}: {escape(phase.title)}'
                    f"{here}.</strong> {escape(phase.what.capitalize())}.</li>")  # fmt: skip
    html.append("</ul>")

    if plan.coming:
        text.append(f"\nYOUR NEXT {len(plan.coming)} EMAILS\n")
        html.append(f'<h3 style="{H3}">Your next {len(plan.coming)} emails</h3><ol style="{LIST}">')
        for email in plan.coming:
            text.append(f"- {email.when}: {email.title} ({email.why})")
            html.append(f'<li style="{ITEM}"><strong>{escape(email.when)}: {escape(email.title)}</strong> '
                        f"({escape(email.why)})</li>")  # fmt: skip
        html.append("</ol>")

    text.append(f"\nYour plan changes the moment you tell us something new; it is always here: {plan_url}")
    html.append(f'<p style="{P}">Your plan changes the moment you tell us something new; it is always on '
                f'<a href="{escape(plan_url)}" style="{LINK}">your plan page</a>.</p>')  # fmt: skip
    return Block("\n".join(text), "".join(html))


def plan_link_block(plan_url: str) -> Block:
    """Where a full plan is not built (the archive's copy of the welcome): the link to today's plan."""
    return Block(
        f"Your plan as it stands today: {plan_url}",
        f'<p style="{P}">Your plan as it stands today is on <a href="{escape(plan_url)}" style="{LINK}">your '
        "plan page</a>.</p>",
    )
