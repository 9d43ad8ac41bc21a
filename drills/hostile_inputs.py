"""Drill 5, hostile inputs against gunicorn (and the lesson importer): each kind must get a clear
4xx or a clean refusal, store nothing wrongly, and never a 500.

    .venv/bin/python drills/hostile_inputs.py

Prints one line per kind (answer, expected, what was checked in the database), then the row.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drills import harness, webhooks

BIG = 3 * 1024 * 1024  # over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
INBOUND_LIMIT = 10 * 1024 * 1024  # the drill's INBOUND_MAX_BODY_BYTES (a Postmark body carries the text twice)


@dataclass
class Case:
    kind: str
    answer: str  # the status code, or what the refusal was
    ok: bool  # a clear 4xx or clean refusal, and nothing stored wrongly
    detail: str = ""
    status: int = 0


def drill(stack: ExitStack, row: harness.Row) -> None:
    folder = harness.workdir(stack, "hostile")
    redis = harness.RedisServer(stack, folder)
    # A reply the ESP sends with its attachments is kept up to INBOUND_MAX_BODY_BYTES; a small limit
    # here lets the drill try both sides of it without posting 100 MB.
    env = harness.product_env(harness.throwaway_database(stack, "hostile"), redis.url, folder,
                              INBOUND_MAX_BODY_BYTES=str(INBOUND_LIMIT))  # fmt: skip
    harness.setup_django(env)
    from django.contrib.auth.models import User
    from django.core.mail import EmailMessage
    from django.test import Client

    from course.models import Course
    from lessons.files import LessonFileError
    from lessons.importing import import_path
    from lessons.models import Lesson
    from subscribers.models import Delivery, Reply, Signup, StripeEvent, Subscriber
    from subscribers.readers.addresses import reply_address
    from subscribers.readers.enrolment import Intake, enroll
    from subscribers.replies import inbound
    from subscribers.sending import drip, emails

    course = Course.objects.get(slug="clinical-to-non-clinical")
    checkin = Lesson.objects.filter(course=course, kind="checkin").order_by("month", "order").first()

    def reader_with_checkin(email: str, name: str) -> tuple[Subscriber, Delivery]:
        reader = enroll(course, Intake(email=email, first_name=name), actor="drill", why="drill")
        delivery = Delivery.objects.create(subscriber=reader, lesson=checkin, version=checkin.current_version,
                                           due_at=reader.enrolled_at)  # fmt: skip
        assert drip.send_delivery(delivery.pk) == "sent"
        return reader, delivery

    alice, alice_checkin = reader_with_checkin("alice@drill.example", "Alice")
    bob, _ = reader_with_checkin("bob@drill.example", "Bob")
    _web, base = harness.gunicorn(stack, env, folder, workers=2, threads=4)
    http = requests.Session()
    cases: list[Case] = []

    def post(request: webhooks.Request, content_type: str | None = None) -> requests.Response:
        headers = dict(request.headers)
        if content_type:
            headers["Content-Type"] = content_type
        return http.post(base + request.path, data=request.body, headers=headers, timeout=30)

    def oversized(kind: str, request: webhooks.Request, stored: Callable[[], bool]) -> None:
        """The server may answer 400 and close before reading a body this big: a reset is a refusal too."""
        try:
            response = requests.post(base + request.path, data=request.body, headers=request.headers, timeout=30)
        except requests.ConnectionError:
            wrong = stored()
            cases.append(Case(kind, "closed unread", not wrong, "STORED WRONGLY" if wrong else "400 before the body"))
            return
        expect_4xx(kind, response, stored)

    def expect_4xx(kind: str, response: requests.Response, stored: Callable[[], bool] = lambda: False) -> None:
        wrong = stored()
        ok = 400 <= response.status_code < 500 and not wrong
        detail = response.text[:90].replace("\n", " ")
        cases.append(Case(kind, str(response.status_code), ok, detail + (" STORED WRONGLY" if wrong else ""),
                          response.status_code))  # fmt: skip

    events_before = StripeEvent.objects.count
    no_new_event = (lambda n: lambda: StripeEvent.objects.count() != n)(events_before())

    # --- Stripe ----------------------------------------------------------------------------------
    signup = Signup.objects.create(
        course=course, email="carol@drill.example", first_name="Carol", time_zone="UTC", send_hour=8
    )
    paid = webhooks.paid_event(str(signup.reference), 1)
    oversized("stripe: oversized body", webhooks.signed(paid | {"padding": "x" * BIG}), no_new_event)
    expect_4xx("stripe: invalid JSON", post(webhooks.signed("{'id': evt_1, not json")), no_new_event)
    expect_4xx("stripe: not UTF-8", post(webhooks.Request("/stripe/webhook/", b"\xff\xfe\x00{}", {
        "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})), no_new_event)  # fmt: skip
    unsigned = webhooks.signed(paid)
    expect_4xx("stripe: unsigned", post(webhooks.Request(unsigned.path, unsigned.body, {})), no_new_event)
    expect_4xx("stripe: forged signature", post(webhooks.signed(paid, secret="whsec_not_ours")), no_new_event)
    expect_4xx("stripe: stale signature (1 h)", post(webhooks.signed(paid, timestamp=int(time.time()) - 3600)),
               no_new_event)  # fmt: skip
    expect_4xx("stripe: JSON not an event", post(webhooks.signed([paid])), no_new_event)
    bad_amount = webhooks.paid_event(str(signup.reference), 2)
    bad_amount["data"]["object"]["amount_total"] = "7900"
    expect_4xx("stripe: amount as text", post(webhooks.signed(bad_amount)),
               lambda: Subscriber.objects.filter(email=signup.email).exists())  # fmt: skip
    response = http.get(base + "/stripe/webhook/", timeout=10)
    expect_4xx("stripe: GET", response)
    long_id = webhooks.refund_event(3) | {"id": "evt_" + "x" * 300}
    expect_4xx("stripe: event id of 304 characters", post(webhooks.signed(long_id)), no_new_event)
    deep = '{"id": "evt_deep", "type": "x", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    expect_4xx("stripe: JSON nested 100,000 deep", post(webhooks.signed(deep)), no_new_event)
    expect_4xx("stripe: signed 1 h in the future", post(webhooks.signed(paid, timestamp=int(time.time()) + 3600)),
               no_new_event)  # fmt: skip

    def accepted(kind: str, response: requests.Response, stored: Callable[[], bool]) -> None:
        """Signed by Stripe, so answered 200 (no retries) and stored safely."""
        ok = response.status_code == 200 and stored()
        cases.append(Case(kind, str(response.status_code), ok, response.text[:90] + ("" if ok else " NOT STORED"),
                          response.status_code))  # fmt: skip

    nul_signup = Signup.objects.create(course=course, email="nul@drill.example", first_name="Nul", time_zone="UTC",
                                       send_hour=8, leaving="care", destination="payer", license="keep",
                                       pay_need="match")  # fmt: skip
    nul_paid = webhooks.paid_event(str(nul_signup.reference), 4)
    nul_paid["data"]["object"]["customer_details"] = {"name": "Nul\x00 Reader", "email": nul_signup.email}
    accepted("stripe: signed event with \\u0000", post(webhooks.signed(nul_paid)),
             lambda: StripeEvent.objects.filter(event_id=nul_paid["id"]).exists()
             and Subscriber.objects.filter(email=nul_signup.email).exists())  # fmt: skip
    dispute = webhooks.stripe_event("charge.dispute.created", "evt_drill_dispute_null", payment_intent=None)
    accepted("stripe: dispute, payment_intent null", post(webhooks.signed(dispute)),
             lambda: StripeEvent.objects.filter(event_id="evt_drill_dispute_null").exists())  # fmt: skip

    # --- Inbound replies -------------------------------------------------------------------------
    def reply_stored(message_id: str) -> Callable[[], bool]:
        return lambda: Reply.objects.filter(message_id=message_id).exists()

    address = reply_address(alice.pk, alice_checkin.pk)
    raw = webhooks.reply_mime(alice.email, address, "3", "<hostile-1@mail.drill.example>")
    expect_4xx(
        "inbound: no basic auth", post(webhooks.inbound(raw, auth={})), reply_stored("<hostile-1@mail.drill.example>")
    )
    wrong = {"Authorization": "Basic ZHJpbGw6d3Jvbmc="}
    expect_4xx("inbound: wrong basic auth", post(webhooks.inbound(raw, auth=wrong)),
               reply_stored("<hostile-1@mail.drill.example>"))  # fmt: skip
    good = webhooks.inbound(raw)
    expect_4xx("inbound: invalid JSON", post(webhooks.Request(good.path, b'{"RawEmail": "x', good.headers)))
    expect_4xx("inbound: form-encoded body", post(webhooks.Request(good.path, b"From=a&To=b", good.headers),
                                                  content_type="application/x-www-form-urlencoded"))  # fmt: skip
    expect_4xx("inbound: JSON array", post(webhooks.Request(good.path, b"[1, 2]", good.headers)))
    big = webhooks.reply_mime(alice.email, address, "3" + " padding" * (BIG // 8), "<hostile-big@mail.drill.example>")
    response = post(webhooks.inbound(big))
    kept = reply_stored("<hostile-big@mail.drill.example>")()
    cases.append(Case("inbound: 3 MB reply (kept, as the ESP sent it)", str(response.status_code),
                      response.status_code == 200 and kept, "stored" if kept else "NOT STORED",
                      response.status_code))  # fmt: skip
    huge = webhooks.reply_mime(alice.email, address, "3" + " padding" * (INBOUND_LIMIT // 16 + 65536),
                               "<hostile-huge@mail.drill.example>")  # fmt: skip
    oversized("inbound: over INBOUND_MAX_BODY_BYTES", webhooks.inbound(huge),
              reply_stored("<hostile-huge@mail.drill.example>"))  # fmt: skip

    def reply_case(kind: str, raw: bytes, message_id: str, reader: Subscriber, expected_status: str) -> None:
        """Accepted by the webhook (200: the ESP must not retry it), then read and refused cleanly."""
        stage_before = reader.stage
        response = post(webhooks.inbound(raw))
        reply = Reply.objects.filter(message_id=message_id).first()
        outcome = inbound.process(reply.pk) if reply else "not stored"
        reader.refresh_from_db()
        reply = Reply.objects.filter(message_id=message_id).first()
        status = reply.status if reply else ""
        ok = response.status_code == 200 and status == expected_status and reader.stage == stage_before
        cases.append(Case(kind, f"{response.status_code}, {status}", ok, outcome[:90], response.status_code))

    token = address.split("+")[1].split("@")[0]
    tampered = address.replace(token, token[:-1] + ("a" if token[-1] != "a" else "b"))
    reply_case("inbound: tampered reply token", webhooks.reply_mime(alice.email, tampered, "3", "<t-1@d.example>"),
               "<t-1@d.example>", alice, Reply.Status.IGNORED)  # fmt: skip
    reply_case("inbound: another reader's token", webhooks.reply_mime(bob.email, address, "4", "<x-1@d.example>"),
               "<x-1@d.example>", alice, Reply.Status.REVIEW)  # fmt: skip
    response = post(webhooks.Request(good.path, good.body.replace(b'"RawEmail": "', b'"RawEmail": "\\u0000\\u0001 not'
                                                                  b' MIME \\r\\n\\r\\n'), good.headers))  # fmt: skip
    cases.append(Case("inbound: invalid MIME", str(response.status_code), response.status_code in (200, 400)
                      and alice.stage == Subscriber.objects.get(pk=alice.pk).stage, response.text[:90],
                      response.status_code))  # fmt: skip

    levels = 400
    nested = b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() for i in range(levels)
    )
    nested += b"Content-Type: text/plain\r\n\r\n3\r\n" + b"".join(f"--b{i}--\r\n".encode() for i in range(levels)[::-1])
    deep_raw = (f"From: {alice.email}\r\nTo: {address}\r\nSubject: deep\r\nMessage-ID: <deep-1@d.example>\r\n"
                "MIME-Version: 1.0\r\n").encode() + nested  # fmt: skip
    reply_case("inbound: 400 nested multipart levels", deep_raw, "<deep-1@d.example>", alice, Reply.Status.REVIEW)
    nul_raw = webhooks.reply_mime(alice.email, address, "3", "<nul-1@d.example>", subject="Re: Check\x00-in")
    nul_raw = nul_raw.replace(b"<nul-1@d.example>", b"<nul-1\x00@d.example>")
    response = post(webhooks.inbound(nul_raw))
    stored_nul = Reply.objects.filter(message_id="<nul-1@d.example>").first()
    ok = response.status_code == 200 and stored_nul is not None and "\x00" not in stored_nul.subject
    cases.append(Case("inbound: NUL in Subject and Message-ID", str(response.status_code), ok,
                      (stored_nul.subject if stored_nul else "NOT STORED")[:90], response.status_code))  # fmt: skip

    # Script in a reply: escaped on the admin's review page.
    script = "<script>alert('reply')</script> what is stage 3?"
    reply_case("inbound: script in a reply", webhooks.reply_mime(alice.email, address, script, "<s-1@d.example>"),
               "<s-1@d.example>", alice, Reply.Status.REVIEW)  # fmt: skip
    admin = User.objects.create_superuser("drill-admin", "admin@drill.example", "x" * 20)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    scripted = Reply.objects.get(message_id="<s-1@d.example>")
    page = client.get(f"/admin/subscribers/reply/{scripted.pk}/change/").content.decode()
    escaped = "<script>alert(" not in page and "&lt;script&gt;" in page
    cases.append(Case("admin: script in a reply", "escaped" if escaped else "RAW", escaped, "reply change page"))

    # --- The intake form -------------------------------------------------------------------------
    def intake(kind: str, changes: dict[str, str], email: str, check: Callable[[requests.Response], bool]) -> None:
        form = requests.Session()
        page = form.get(base + "/start/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
        fields = {"csrfmiddlewaretoken": token, "email": email, "first_name": "Dana", "profession": "rn",
                  "specialty": "ICU nurse", "leaving": "care", "destination": "payer", "license": "keep",
                  "pay_need": "match", "time_zone": "America/Chicago", "send_hour": "7", **changes}  # fmt: skip
        response = form.post(base + "/start/", data=fields, timeout=30, headers={"Referer": base + "/start/"})
        ok = 400 <= response.status_code < 500 and check(response)
        errors = re.findall(r'<a href="#field-[^"]+">([^<]+)</a>|<li>([^<]+)</li>', response.text)
        errors = [" ".join(" ".join(e).split()) for e in errors]
        cases.append(Case(kind, str(response.status_code), ok, "; ".join(errors)[:90] or response.text[:90],
                          response.status_code))  # fmt: skip

    def no_signup(email: str) -> Callable[[requests.Response], bool]:
        return lambda _: not Signup.objects.filter(email__iexact=email.strip()).exists()

    def one_line_name(email: str) -> Callable[[requests.Response], bool]:
        return lambda _: all("\r" not in s.first_name and "\n" not in s.first_name
                             for s in Signup.objects.filter(email=email))  # fmt: skip

    intake("form: CR/LF in the name", {"first_name": "Eve\r\nBcc: victim@evil.example"}, "eve@drill.example",
           one_line_name("eve@drill.example"))  # fmt: skip
    intake("form: CR/LF in the email", {}, "eve2@drill.example\r\nBcc: victim@evil.example",
           no_signup("eve2@drill.example"))  # fmt: skip
    intake("form: time zone Mars/Olympus", {"time_zone": "Mars/Olympus_Mons"}, "tz@drill.example",
           no_signup("tz@drill.example"))  # fmt: skip
    intake("form: send hour 99", {"send_hour": "99"}, "hour@drill.example", no_signup("hour@drill.example"))
    intake("form: huge name (100k)", {"first_name": "A" * 100_000}, "huge@drill.example",
           no_signup("huge@drill.example"))  # fmt: skip
    intake("form: confusable email", {}, "\u0430lice@drill.example", no_signup("\u0430lice@drill.example"))
    intake("form: no CSRF token", {"csrfmiddlewaretoken": "forged"}, "csrf@drill.example",
           no_signup("csrf@drill.example"))  # fmt: skip

    # --- Names in outgoing mail and the admin --------------------------------------------------
    eve = enroll(course, Intake(email="eve@mail.drill.example", first_name="<script>alert(1)</script>"),
                 actor="drill", why="drill")  # fmt: skip
    welcome = Delivery.objects.create(subscriber=eve, lesson=Lesson.objects.get(course=course, kind="welcome"),
                                      version=Lesson.objects.get(course=course, kind="welcome").current_version,
                                      due_at=eve.enrolled_at)  # fmt: skip
    message = emails.lesson_email(welcome, eve.enrolled_at)
    html = message.alternatives[0][0]
    ok = "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    cases.append(Case("email: script in the name", "escaped" if ok else "RAW", ok, "welcome email HTML part"))
    page = client.get(f"/admin/subscribers/subscriber/{eve.pk}/change/").content.decode()
    ok = "<script>alert(1)</script>" not in page
    cases.append(Case("admin: script in the name", "escaped" if ok else "RAW", ok, "subscriber change page"))
    Subscriber.objects.filter(pk=eve.pk).update(first_name="Eve\r\nBcc: victim@evil.example")
    eve.refresh_from_db()
    try:
        sent = emails.lesson_email(welcome, eve.enrolled_at).message().as_bytes()
        headers = re.split(rb"\r?\n\r?\n", sent, maxsplit=1)[0]
        ok = not re.search(rb"^Bcc:", headers, re.MULTILINE | re.IGNORECASE)
        answer = "no injected header" if ok else "INJECTED"
    except Exception as exc:  # a refusal to build the message is clean too, but the reader then gets nothing
        ok, answer = False, f"refused: {type(exc).__name__}"
    cases.append(Case("email: CR/LF in the name", answer, ok, "name edited to carry a Bcc header"))
    from lessons.rendering import render_lesson

    subject = render_lesson(0, "{{ first_name }}, week 1", "Hi", course.title).personalise(
        {"first_name": eve.first_name}
    )
    try:
        headers = EmailMessage(subject.subject, "x", to=[eve.email]).message().as_bytes().split(b"\n\n")[0]
        ok, answer = not re.search(rb"^Bcc:", headers, re.MULTILINE | re.IGNORECASE), "one-line subject"
    except Exception as exc:  # BadHeaderError: every send of this email would fail for this reader
        ok, answer = False, f"refused: {type(exc).__name__}"
    cases.append(Case("email: CR/LF in a subject name", answer, ok, "a lesson subject with {{ first_name }}"))

    # --- Lesson import ---------------------------------------------------------------------------
    def lesson_case(
        kind: str, front_matter: str, also: Callable[[], bool] = lambda: True, body: str = "Hello {{ first_name }}"
    ) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder_ = Path(tmp) / "hostile-course"
            folder_.mkdir()
            (folder_ / "course.yaml").write_text(
                "slug: hostile-course\ntitle: Hostile\nprice: 79\ncurrency: USD\nlength_months: 12\n"
                "cadence: weekly\ncheckin_interval_weeks: 4\ncheckin_months: [3, 6, 9, 12]\n"
            )
            (folder_ / "lesson.md").write_text(f"---\n{front_matter}\n---\n{body}\n")
            try:
                import_path(folder_)
                answer, refused = "imported", False
            except LessonFileError as exc:
                answer, refused = "refused: " + str(exc).splitlines()[0].split(": ", 1)[-1][:70], True
        ok = refused and not Course.objects.filter(slug="hostile-course").exists() and also()
        cases.append(Case(kind, answer, ok))

    lesson_case("import: path traversal slug", "slug: ../../../etc/passwd\nsubject: x\nkind: lesson\nstage: any\n"
                "destinations: any\nmonth: 1\norder: 1")  # fmt: skip
    pwned = Path(tempfile.gettempdir()) / f"drill-pwned-{id(cases)}"
    tagged = f"slug: !!python/object/apply:os.system ['touch {pwned}']\nsubject: x\nkind: lesson\nstage: any\n"
    lesson_case("import: YAML python tag", tagged + "destinations: any\nmonth: 1\norder: 1", lambda: not pwned.exists())

    lesson_case("import: a reader's answer inside a link", "slug: lesson\nsubject: x\nkind: lesson\nstage: any\n"
                "destinations: any\nmonth: 1\norder: 1", body="[your site]({{ first_name }})")  # fmt: skip
    linked = render_lesson(0, "S", "[your site]({{ first_name }})", course.title).personalise(
        {"first_name": "javascript:alert(1)"}
    )
    ok = not re.search(r"""href=["']?\s*javascript""", linked.html, re.IGNORECASE)
    cases.append(Case("email: javascript: name inside a link", "text" if ok else "LIVE LINK", ok, "an old version"))

    # --- Reader links that can be forwarded ---------------------------------------------------------
    from urllib.parse import urlsplit

    from django.utils import timezone

    from subscribers.readers import changes as reader_changes
    from subscribers.readers import links

    def opened(url: str, method: str = "get", **data) -> requests.Response:
        return getattr(http, method)(base + urlsplit(url).path, data=data or None, timeout=10, allow_redirects=False)

    long_ago = timezone.now() - links.max_age() - timedelta(days=1)
    old_link = links.preferences_url(alice, long_ago)
    response = opened(old_link)
    ok = response.status_code == 403 and "fresh link" in response.text.lower()
    cases.append(Case("links: forwarded preferences link past its age", str(response.status_code), ok,
                      "the expired page with the fresh-link form", response.status_code))  # fmt: skip
    expect_4xx("links: forwarded archive link past its age", opened(old_link + f"lessons/{checkin.slug}/"))
    expect_4xx("links: forwarded plan link past its age", opened(links.plan_url(alice, long_ago)))
    bobs = links.preferences_url(bob)
    reader_changes.revoke_links(bob, actor="drill", why="signed out")
    expect_4xx("links: a link signed out in the admin", opened(bobs))
    carol, _ = reader_with_checkin("carol@drill.example", "Carol")
    response = opened(links.unsubscribe_url(carol), "post", **{"List-Unsubscribe": "One-Click"})
    carol.refresh_from_db()
    ok = response.status_code == 200 and carol.status == "unsubscribed"
    cases.append(Case("links: one-click unsubscribe never expires", str(response.status_code), ok,
                      f"reader {carol.status}", response.status_code))  # fmt: skip
    alice.refresh_from_db()
    cases.append(Case("links: nothing changed through an old link", alice.status, alice.status == "active", ""))

    # --- The admin login and the operator pages ---------------------------------------------------
    User.objects.create_superuser("drill-owner", "owner@drill.example", "the-right-long-password")
    browser = requests.Session()

    def admin_login(password: str) -> requests.Response:
        page = browser.get(base + "/admin/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
        return browser.post(base + "/admin/login/?next=/admin/", timeout=10, allow_redirects=False,
                            data={"csrfmiddlewaretoken": token, "username": "drill-owner", "password": password},
                            headers={"Referer": base + "/admin/login/"})  # fmt: skip

    answers = [admin_login(f"guess-{n}").status_code for n in range(100)]
    right = admin_login("the-right-long-password")
    ok = answers.count(429) >= 95 and right.status_code == 429 and "sessionid" not in browser.cookies
    cases.append(Case("admin: 100 wrong passwords, then the right one", f"{right.status_code}", ok,
                      f"{answers.count(429)}/100 guesses refused as locked out", right.status_code))  # fmt: skip
    intern = Client(HTTP_HOST="127.0.0.1")
    intern.force_login(User.objects.create_user("drill-intern", password="x" * 20, is_staff=True))
    response = intern.get("/ops/export/readers.csv")
    cases.append(Case("ops: staff without the permission exports readers", str(response.status_code),
                      response.status_code == 403, "", response.status_code))  # fmt: skip
    policy = http.get(base + "/start/", timeout=10).headers.get("Content-Security-Policy", "")
    ok = "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    cases.append(Case("pages: Content-Security-Policy on /start/", "set" if ok else "MISSING", ok, policy[:90]))

    # --- The undo link ---------------------------------------------------------------------------
    expect_4xx("undo: forged token", http.get(base + "/reply/undo/" + "a" * 300 + "/", timeout=10))
    expect_4xx("undo: 5,000-character path", http.get(base + "/reply/undo/" + "a" * 5000 + "/", timeout=10))

    width = max(len(c.kind) for c in cases)
    for case in cases:
        print(f"  {'ok  ' if case.ok else 'FAIL'} {case.kind.ljust(width)}  {case.answer:<28} {case.detail}")
    failed = [c.kind for c in cases if not c.ok]
    row.done = f"{len(cases)} kinds of hostile input over HTTP, in mail and in import"
    row.expected = "clear 4xx or clean refusal, never 500"
    row.errors_500 = sum(1 for c in cases if c.status >= 500)
    row.lost, row.duplicates = 0, 0
    row.notes.append(
        f"{len(cases) - len(failed)}/{len(cases)} refused cleanly" + (f"; failed: {failed}" if failed else "")
    )
    row.passed = not failed and row.errors_500 == 0 and len(cases) >= 15


if __name__ == "__main__":
    harness.run("hostile-inputs", drill)
