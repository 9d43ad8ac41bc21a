"""understand(): a pure function of the reply's new text. A table of real phrasings, then fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subscribers.replies.understanding import understand

CASES = [
    # stage by number, in any common form
    ("3", "searching", None, None),
    ("#3", "searching", None, None),
    ("stage 3", "searching", None, None),
    ("3\ufe0f\u20e3", "searching", None, None),
    ("3)", "searching", None, None),
    ("three", "searching", None, None),
    ("Tres", "searching", None, None),
    ("Estoy en la etapa 2", "conversations", None, None),
    ("I'm a 4 now, thanks!", "interviewing", None, None),
    ("1 - still working it out", "deciding", None, None),
    ("2\nMaria Lopez, RN\n(555) 123-4567", "conversations", None, None),
    ("I'm at 2. Call me at 555-867-5309 on March 3", "conversations", None, None),
    # stage by words and phrases
    ("still deciding", "deciding", None, None),
    ("I had two informational interviews last month", "conversations", None, None),
    ("interviewing next week", "interviewing", None, None),
    ("I got an offer!", "interviewing", None, None),
    ("I start in March", "landed", None, None),
    ("I'm updating my resume and applying to jobs", "searching", None, None),
    ("buscando trabajo", "searching", None, None),
    ("After a few coffee chats I'm now applying", "searching", None, None),
    # destinations by name and synonym
    ("I've started interviewing, leaning toward pharma", "interviewing", "medical-affairs", None),
    ("MSL", None, "medical-affairs", None),
    ("switch me to the FDA track please", None, "regulatory-affairs", None),
    ("Epic analyst", None, "clinical-informatics", None),
    ("CMIO", None, "clinical-informatics", None),
    ("insurance", None, "payer", None),
    ("health plan", None, "payer", None),
    ("UM", None, "payer", None),
    ("startup", None, "health-tech-product", None),
    ("product manager roles", None, "health-tech-product", None),
    ("staying clinical, moving to telehealth", None, "change-setting", None),
    ("changing specialty", None, "change-setting", None),
    ("No longer interested in pharma, leaning toward payer now", None, "payer", None),
    ("switching from pharma to consulting", None, "consulting", None),
    ("Interviewing with a health plan next week", "interviewing", "payer", None),
    # commands
    ("pause", None, None, "pause"),
    ("Can you pause my emails for a month?", None, None, "pause"),
    ("resume", None, None, "resume"),
    ("stop", None, None, "stop"),
    ("unsubscribe me please", None, None, "stop"),
    ("pausa por favor", None, None, "pause"),
    ("darme de baja", None, None, "stop"),
    ("Landed! You can stop the emails now.", "landed", None, "stop"),
    # not answers
    ("um, I think 4", "interviewing", None, None),
    ("I'm updating my résumé", "searching", None, None),
]

REVIEW = [
    ("not interviewing yet", "negated"),
    ("no longer interested in pharma", "rules out medical affairs"),
    ("2 or 3", "two stage numbers"),
    ("Somewhere between a 2 and a 3", "two stage numbers"),
    ("7", "not a stage number"),
    ("stage 0", "not a stage number"),
    ("What does stage 3 mean?", "question"),
    ("Hoping to start interviewing soon", "a wish"),
    ("I'd love to become a CMIO someday", "mentioned"),
    ("Torn between consulting and pharma", "more than one destination"),
    ("1 - I have an interview on Thursday", "says stage 1"),
    ("Please pause the emails. Actually no, resume the course", "asks to"),
    ("Thanks!", "sign-off"),
    ("", "no new text"),
    ("Call me at (312) 555-0142 or on 3/14", "no stage"),
    ("I'm 3 months into the course and loving it", "no stage"),
]


@pytest.mark.parametrize("text, stage, destination, command", CASES)
def test_it_understands_common_answers(text, stage, destination, command):
    understood = understand(text)
    assert understood.problem == ""
    assert (understood.stage, understood.destination, understood.command) == (stage, destination, command)


@pytest.mark.parametrize("text, reason", REVIEW)
def test_it_changes_nothing_when_unsure_and_says_why(text, reason):
    understood = understand(text)
    assert (understood.stage, understood.destination, understood.command) == (None, None, None)
    assert reason in understood.problem


def test_it_keeps_the_evidence_it_used():
    understood = understand("I've started interviewing, leaning toward pharma")
    evidence = {(cue.kind, cue.value, cue.evidence) for cue in understood.cues if cue.counts}
    assert evidence == {("stage", "interviewing", "interviewing"), ("destination", "medical-affairs", "pharma")}
    assert understood.summary() == "stage 4, interviewing; destination medical affairs"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_it_never_raises_on_any_text_and_either_reads_something_or_says_why_not(text):
    understood = understand(text)
    found = (understood.stage, understood.destination, understood.command)
    if understood.problem:
        assert found == (None, None, None), "an unsure reading changes nothing"
    else:
        assert found != (None, None, None) or understood.no_change, "a clear reading says what it read"
        assert understood.summary() != "nothing"
    assert all(value is None or isinstance(value, str) for value in found)


NEUTRAL = (
    "hello thanks the a weather was lovely today my dog kids shift hospital night coffee cat garden book "
    "tired busy week great question email course really enjoyed reading lesson sunday family call later "
    "ok cool sounds nice appreciate it ward patients charting lunch break friday"
)
NEUTRAL_WORDS = st.sampled_from(NEUTRAL.split())
NOT_ANSWERS = st.one_of(
    st.from_regex(r"\(\d{3}\) \d{3}-\d{4}", fullmatch=True),
    st.from_regex(r"[01]?\d/[0-3]?\d/20\d\d", fullmatch=True),
    st.from_regex(r"[1-9]:[0-5]\d ?(am|pm)", fullmatch=True),
    st.from_regex(r"\$[1-9]\d{1,3}", fullmatch=True),
    st.from_regex(r"(March|April|June) [1-9]", fullmatch=True),
    st.from_regex(r"[1-9] (weeks|months|patients|shifts)", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(NEUTRAL_WORDS, NOT_ANSWERS), min_size=3, max_size=40), st.sampled_from([" ", ". ", "\n"]))
def test_text_without_cues_never_changes_anything(words, separator):
    understood = understand(separator.join(words))
    assert (understood.stage, understood.destination, understood.command) == (None, None, None)


@pytest.mark.parametrize(
    "text, license_plan, pay_need",
    [
        ("I've decided to keep my license", "keep", None),
        ("Going to let my nursing license lapse next year", "let-go", None),
        ("Still not sure about my license", "unsure", None),
        ("We can't take a pay cut", None, "match"),
        ("We could absorb a modest pay cut for a while", None, "modest-drop"),
        ("Honestly pay isn't the deciding factor. 3", None, "flexible"),
    ],
)
def test_it_reads_license_and_pay_answers(text, license_plan, pay_need):
    understood = understand(text)
    assert (understood.license_plan, understood.pay_need, understood.problem) == (license_plan, pay_need, "")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("I'm not going to keep my license", "negated"),
        ("I'll keep my license, or maybe let my license lapse", "two answers about license"),
        ("Should I keep my license?", "the reader asks a question"),
    ],
)
def test_a_license_answer_that_is_negated_asked_or_contradicted_changes_nothing(text, problem):
    understood = understand(text)
    assert (understood.license_plan, understood.stage) == (None, None)
    assert problem in understood.problem


# Choices, not mentions: a decision in other words than "switch me to X" is a choice; care-setting and
# product words in passing are not; a stage and a destination apply together or not at all.
CHOICES = [
    ("I've decided medical affairs is the right fit", None, "medical-affairs"),
    ("After these lessons I'm switching my focus to clinical informatics", None, "clinical-informatics"),
    ("The MSL lesson was great. Please move me to that track.", None, "medical-affairs"),
    ("Staying clinical, just changing setting", None, "change-setting"),
    ("change-setting", None, "change-setting"),
    ("medical-affairs please", None, "medical-affairs"),
    ("health plans seem like the right fit", None, "payer"),
    ("I'm switching my focus to payer, and I'm interviewing", "interviewing", "payer"),
    ("4, and switch me to pharma", "interviewing", "medical-affairs"),
    ("I want to move to telehealth", None, "change-setting"),
]


@pytest.mark.parametrize("text, stage, destination", CHOICES)
def test_a_decision_in_other_words_is_a_choice(text, stage, destination):
    understood = understand(text)
    assert (understood.stage, understood.destination, understood.problem) == (stage, destination, "")


@pytest.mark.parametrize(
    "text",
    [
        "I work outpatient now",
        "My unit is short staffed again",
        "We started remote patient monitoring on my floor",
        "I moved to inpatient last year",
        "Thanks, telehealth sounds interesting but not for me",
        "I liked the pharma lesson and the consulting one. Move me to that track.",  # which one?
    ],
)
def test_setting_and_product_words_in_passing_choose_nothing(text):
    assert understand(text).destination is None


@pytest.mark.parametrize("text", ["4 and I am torn between pharma and consulting", "3 or 4, moving me to payer"])
def test_a_stage_and_a_destination_apply_together_or_not_at_all(text):
    understood = understand(text)
    assert (understood.stage, understood.destination) == (None, None)
    assert understood.problem


@pytest.mark.parametrize("text", [":+1:", "👍", "+1", ":thumbsup:", "👍👍", ":100:"])
def test_emoji_and_shortcodes_are_never_a_stage(text):
    assert understand(text).stage is None


def test_what_a_reply_says_beyond_its_answer_is_kept_and_a_question_is_noticed():
    answered = understand("3\n\nAlso, do you have tips for negotiating salary?")
    assert answered.stage == "searching"
    assert (answered.remainder, answered.question) == ("Also, do you have tips for negotiating salary?", True)
    plain = understand("4, interviewing with two health plans")
    assert (plain.remainder, plain.question) == ("", False)
    story = understand("I'm at 3. My manager found out I'm leaving and it has been a rough week.")
    assert story.stage == "searching" and story.remainder and not story.question
