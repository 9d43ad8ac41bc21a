"""Understand a check-in reply: a pure function of the reply's new text (flow 4), no ORM.

`understand(text)` finds the cues a reader uses to answer a check-in and returns what they
ask for, with the evidence for each part:
- a stage by number in any common form ("3", "three", "#3", "stage 3", "3️⃣", "3)", "tres",
  "etapa 3") or by phrase ("still deciding", "had two informational interviews",
  "interviewing next week", "I got an offer", "I start in March");
- a destination by name or synonym ("pharma", "MSL", "FDA", "CMIO", "health plan", "startup",
  "staying clinical"...), when the reader says they want it (not a passing mention);
- a command: pause, resume, stop (English and Spanish).

Rules that keep it from changing a reader by mistake:
- phone numbers, dates, times, amounts, addresses and anything after a sign-off are removed
  before numbers are read; a number is an answer only on a line that says little else
  ("I'm a 3 now, thanks") or right after a cue ("stage 3", "#3", "I'm at 3");
- a cue after a negation ("not interviewing yet", "no longer interested in pharma"), in a
  question, or in a wish ("hoping to interview") is not an answer;
- two different stages, two destinations, two commands that disagree, a number outside
  1-5, a destination ruled out with no new one, or no cue at all → `problem` says why,
  and nothing should change.
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache

from course.vocabulary import LicensePlan, PayNeed, Stage, Vocabulary, builtin_vocabulary

STAGES = [stage.value for stage in Stage]

# --- Normalising ----------------------------------------------------------------------------

KEYCAP_RE = re.compile(r"([0-9])\ufe0f?\u20e3")
DASHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-", "\u00a0": " ", "\u201c": '"'})
QUOTE_HEADER_RE = re.compile(
    r"^\s*(?:on\b.{0,200}\bwrote:?|el\b.{0,200}\bescribio:?|le\b.{0,200}\ba ecrit ?:?|am\b.{0,200}\bschrieb.{0,40}:"
    r"|-{2,}\s*original message\s*-{2,}|-{2,}\s*mensaje original\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}"
    r"|_{10,}|begin forwarded message:?|from:\s.*\n\s*(?:sent|date|to|subject):.*"
    r"|de:\s.*\n\s*(?:enviado|fecha|para|asunto):.*)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
SIGN_OFF_RE = re.compile(
    r"^\s*(?:--\s*|(?:thanks|thank you|many thanks|thanks again|thx|ty|cheers|best|best wishes|best regards|regards"
    r"|kind regards|warm regards|warmly|sincerely|all the best|take care|respectfully|love|xo|xoxo|gracias"
    r"|muchas gracias|saludos|un saludo|atentamente|abrazos|merci|cordialement|bien a vous|danke|viele gruse"
    r"|mit freundlichen grussen|lg|mfg)\b[\s,.!]*(?:so much|again)?[\s,.!]*"
    r"|sent from my .*|sent from .* for (?:ios|android)|get outlook for .*|enviado desde .*|envoye de .*"
    r"|von meinem .* gesendet|sent via .*)$",
    re.IGNORECASE,
)
MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre"
    r"|diciembre"
)
# Removed before numbers are read: none of these is ever a stage answer.
NOT_ANSWERS_RE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\w+"  # links and addresses
    r"|(?<![\w:]):[a-z0-9_+-]{1,40}:(?![\w:])|(?<![\w+-])[+-]1\b"  # emoji shortcodes (":+1:"), "+1"
    r"|\(?\+?\d[\d \t().-]{6,}\d"  # phone numbers and other long digit runs
    r"|\b(?:ext|x|extension|pager|fax|tel|phone|cell|mobile|ph|beeper|room|rm|unit|suite|ste|apt|bed|floor|pod"
    r"|box|po box|pgy|usmle step|step|level|phase|grade|tier|fase|nivel|piso|habitacion)\.?\s*#?\s*\d+\w*"
    r"|\b\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{1,4})?\b"  # dates, fractions, versions
    r"|\b\d{1,2}(?::\d{2})+\s*(?:[ap]\.?m\.?)?|\b\d{1,2}\s*(?:[ap]\.?m\.?|o'?clock|h|hrs?|hours?)\b"  # times
    r"|[$€£]\s*\d[\d,.]*\s*[km]?\b|\b\d[\d,.]*\s*(?:k|%|percent|usd|dollars|por ciento)\b"  # money, percents
    r"|\b\d+(?:st|nd|rd|th|º|ª)\b"  # ordinals
    rf"|\b(?:{MONTHS})\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:de\s+)?(?:{MONTHS})\b"
    r"|\b(?:19|20)\d{2}\b"  # years
    r"|\b\d+\s*(?:years?|yrs?|months?|mos?|weeks?|wks?|days?|minutes?|mins?|hours?|times?|x|people|nurses|docs"
    r"|doctors|physicians|interviews?|applications?|apps|jobs|roles|positions|calls|chats|coffees?|companies"
    r"|recruiters|offers?|kids|children|shifts?|beds|patients|pts|sessions|emails|messages|rounds?|lessons?"
    r"|anos|meses|semanas|dias|entrevistas|solicitudes|personas|hijos|turnos|pacientes|mois|semaines|jahre)\b",
    re.IGNORECASE,
)
CLAUSE_BREAK_RE = re.compile(r"[.!?;:,()\n]|\s-\s|\b(?:but|however|though|although|pero|aunque|mais|aber)\b")


def _plain(text: str) -> str:
    """Plain apostrophes and dashes, keycaps as "#3", accents removed (so "está" reads "esta")."""
    text = KEYCAP_RE.sub(r" #\1 ", text).translate(DASHES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


CREDENTIALS_RE = re.compile(
    r"(?<![\w-])(?:RN|BSN|MSN|DNP|APRN|FNP(?:-BC|-C)?|NP|PA-C|PA|MD|DO|MBBS|PharmD|RPh|CRNA|LPN|LVN|CCRN|CEN|CNL"
    r"|PT|DPT|OT|OTR/L|RT|RRT|MBA|MPH|MHA|MS|PhD|FACP|FACEP|FAAP|CPHQ|CCM|CNOR|SLP|CCC-SLP|RD|LCSW|PMHNP|AGACNP)"
    r"(?![\w-])"
)
TITLE_WORDS_RE = re.compile(
    r"\b(?:Nurse|Manager|Director|Specialist|Coordinator|Educator|Physician|Pharmacist|Therapist|Resident|Fellow"
    r"|Attending|Hospitalist|Department|Dept|Unit|Hospital|Center|Centre|Health|Clinic|University|Medical|Analyst"
    r"|Consultant|Lead|Officer|Chief|Supervisor|Practitioner|Technologist|Surgeon|Associate|Senior|Staff|Charge"
    r"|Floor|West|East|North|South|Pager|Office|Mobile|Cell|Tel|Phone|Fax|Pronouns|she/her|he/him|they/them)\b"
)
PHONE_OR_LINK_RE = re.compile(r"\d{3}\D{0,2}\d{3}\D?\d{4}|https?://|www\.|\S+@\S+\.\w+|\s[|•·]\s")


def _signature_like(line: str) -> bool:
    words = line.split()
    if not words or len(words) > 9:
        return False
    if CREDENTIALS_RE.search(line):
        return True
    if PHONE_OR_LINK_RE.search(line) and (
        len(words) <= 5 or re.match(r"(?i)(?:cell|tel|phone|mobile|office|pager|fax|[mtpcfo]):", line)
    ):
        return True
    title_case = sum(1 for w in words if w[:1].isupper() or not w[:1].isalpha()) / len(words)
    return title_case >= 0.75 and bool(TITLE_WORDS_RE.search(line))


def _name_like(line: str) -> bool:
    return bool(re.fullmatch(r"[-~–— ]*[A-Z][a-z'’-]+(?: [A-Z]\.?)?(?: [A-Z][A-Za-z'’-]+){0,2}[.,]?", line))


def clean_lines(text: str) -> str:
    """The reader's own words: quoted lines, quote headers, what follows a sign-off and a trailing
    signature block (name, credentials, title, phone) dropped."""
    lines = [line.strip() for line in text.splitlines() if not line.lstrip().startswith((">", "|"))]
    text = "\n".join(lines)
    header = QUOTE_HEADER_RE.search(text)
    if header:
        text = text[: header.start()]
    lines = text.strip().splitlines()
    for index, line in enumerate(lines):
        if SIGN_OFF_RE.match(line) and len([rest for rest in lines[index + 1 :] if rest]) <= 6:
            lines = lines[:index]
            break
    while lines and (not lines[-1] or _signature_like(lines[-1]) or _name_like(lines[-1])):
        if _name_like(lines[-1]) and not any(_signature_like(line) for line in lines[1:]):
            break
        lines.pop()
    return "\n".join(lines).strip()


def _words(text: str) -> set[str]:
    return set(text.split())


# --- Cues -------------------------------------------------------------------------------------

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "zero": 0, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "primera": 1, "segunda": 2, "tercera": 3,
    "cuarta": 4, "quinta": 5,
}  # fmt: skip
STAGE_LABELS = {
    "deciding": 1, "decide": 1, "decidiendo": 1, "conversations": 2, "conversation": 2, "conversaciones": 2,
    "searching": 3, "search": 3, "buscando": 3, "busqueda": 3, "interviewing": 4, "interviews": 4,
    "entrevistas": 4, "entrevistando": 4, "landed": 5, "contratada": 5, "contratado": 5,
}  # fmt: skip
# Words that may surround a bare number on an answer line ("Hi! I'm at a 3 now, thanks").
FILLER = _words(
    """hi hey hello hiya team folks all there though tho anyway yet already morning good ok okay yes yep yeah sure so well um hmm i im
    i'm its it's it is am at a an the stage stages number no num option options answer reply my me for
    now currently still probably prob maybe perhaps definitely def solid say i'd id would think guess
    honestly right around about more like just and or between thanks thank you thx ty please pls plz
    cheers again mostly pretty much somewhere stage's that's thats this one's ones this week today these
    days hola buenas si soy estoy en la el etapa numero opcion gracias por favor creo que diria ahora
    todavia sigo mas o menos y bonjour je suis merci hallo ich bin danke"""
)
ANSWER_TOKEN_RE = re.compile(r"#?[a-z0-9']+")
# Numbers right after a cue inside a longer sentence.
NUMBER = r"(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
AFTER_NUMBER_OK = (
    r"or|and|to|now|for|i|y|o|since|as|but|because|thanks|thank|please|stage|at|in|on|with|so|still|right|currently"
    r"|though|tho|too|anyway|yet|already|honestly|lol|actually|i think|i guess"
    r"|the|this|these|probably|maybe|myself|lol|haha|ahora|gracias|por|" + "|".join(STAGE_LABELS)
)
CUED_NUMBER_RE = re.compile(
    r"(?:\bstage|\betapa|#|\bstill at|\bnumber|\bnumero|\bno\.|\boption|\bopcion|\banswer(?: is)?|\bi'?m (?:a|at|at a|on|in)"
    r"|\bi am (?:a|at|at a|on|in)|\bestoy en(?: la)?|\bsoy (?:un|una)|\bput me (?:down )?(?:as|at|for|in) (?:a )?"
    r"|\bmove me to(?: stage)?|\bmark me (?:as|at) (?:a )?|\bi'?d say(?: a)?|\bi would say(?: a)?)\s*:?\s*"
    + NUMBER
    + rf"\b(?!\s*(?:[/.:]\s*\d|-\s*\d|(?!(?:{AFTER_NUMBER_OK})\b)[a-z]))"
)
LEADING_NUMBER_RE = re.compile(
    r"^[^\w#\n]{0,3}#?" + NUMBER + r"\b(?=\s*(?:[-:.)!,]|$))(?!\s*[-:.)!,]?\s*\d)", re.MULTILINE
)
CUED_NUMBER_AFTER_RE = re.compile(NUMBER + r"(?:st|nd|rd|th)?\s+(?:stage|etapa)\b")

STAGE_PHRASES: list[tuple[int, str]] = [
    (1, r"still (?:deciding|deciding where|thinking(?: it)? (?:over|through)|figuring(?: it)? out|exploring|unsure)"),
    (
        1,
        r"(?:haven't|have not|not) (?:yet )?(?:decided|made up my mind|figured (?:it )?out)|not sure (?:yet|where|what)",
    ),
    (1, r"on the fence|figuring (?:out )?(?:what|where|it)|deciding|exploring (?:my )?options|thinking about leaving"),
    (1, r"todavia (?:estoy )?decidiendo|decidiendo|no lo tengo claro|no se todavia|pensandolo"),
    (
        2,
        r"informational (?:interview(?:s|ing)?|chats?|calls?|meetings?)|info(?:rmation)? interviews?|coffee (?:chat|meeting)s?",
    ),
    (
        2,
        r"(?:talking|talked|spoke|speaking|chatting|chatted|met|meeting) (?:to|with) (?:a few |some |several |two "
        r"|three |a couple of |a |an |other |more )?(?:people|nurses|doctors|physicians|pharmacists|folks|someone|former"
        r"|colleagues|friends|msls?|product managers?|informaticists?|consultants|clinicians|people who|others)",
    ),
    (
        2,
        r"networking|having conversations|(?:had|have|having) (?:a few |some |several |a couple of |two |three )?"
        r"conversations|reach(?:ed|ing) out to (?:people|former|colleagues|a few|some)",
    ),
    (2, r"conversaciones|hablando con (?:gente|personas|colegas)|hable con (?:gente|personas|colegas|una|un|dos|tres)"),
    (
        3,
        r"searching|job (?:hunting|hunt|search|searching)|(?:started |start |began |been )?applying"
        r"|my (?:job )?search|applied (?:to|for)|sending (?:out )?applications|sent (?:out )?(?:my )?(?:applications|resumes?)",
    ),
    (
        3,
        r"(?:(?:actively|started|start|been|am|i'm|im|now|currently) )?looking (?:for|at) (?:a |new |a new )?(?:jobs?|roles?|positions?"
        r"|openings|postings)|(?:updating|updated|rewriting|rewrote|polishing) my (?:resume|cv|linkedin)"
        r"|on the (?:job )?market|talking to recruiters|working with (?:a )?recruiters?",
    ),
    (
        3,
        r"buscando (?:trabajo|empleo|puesto)|busqueda de (?:trabajo|empleo)|aplicando|postulando|(?:envie|enviando) "
        r"(?:mi )?(?:cv|curriculum|solicitudes)",
    ),
    (
        4,
        r"interview(?:s|ing|ed)?|(?:have|had|got|getting|scheduled|landed|doing|in|my|next|final|second|third|first"
        r"|panel|phone|video|onsite|on-site|case|job|upcoming)(?: (?:an?|my|the|two|three|some|few|several|more|job|first"
        r"|second|final|real))* interviews?|interview (?:next|this|on|tomorrow|today|scheduled|lined up|process)"
        r"|final rounds?|second rounds?|phone screens?|screening calls?",
    ),
    (
        4,
        r"(?:got|received|have|had|weighing|considering|negotiating|waiting on|an|the) (?:an |a |two |the |my )?"
        r"(?:job )?offers?\b(?! letter)|negotiating|verbal offer",
    ),
    (4, r"entrevistas?|entrevistando|tengo una entrevista|(?:tengo|recibi) una oferta"),
    (
        5,
        r"landed|accepted (?:an|the|a|their|my) (?:job|offer|position|role)|accepted (?:an|the|a)\b|signed (?:the|my|an)"
        r" (?:offer|contract)|got the (?:job|role|position)|i (?:start|begin) (?:on|in|next|my|at|monday|tuesday"
        r"|wednesday|thursday|friday|the)|starting (?:my )?(?:new )?(?:job|role|position)|my (?:first|last) day"
        r"|(?:gave|handed in|put in|turned in) my (?:two weeks'? )?notice|i (?:was|got|have been|i've been) hired"
        r"|(?:i'?m|i am) (?:now )?(?:working|employed) (?:as|at)|new job|new role|started (?:my )?(?:new )?(?:job|role)",
    ),
    (5, r"consegui (?:el|un) (?:trabajo|puesto|empleo)|acepte (?:la|una) oferta|empiezo (?:el|en|la)|me contrataron"),
]
STAGE_PHRASE_RES = [(number, re.compile(rf"\b(?:{pattern})\b")) for number, pattern in STAGE_PHRASES]

# A care setting named as a move: the move itself says it is chosen.
MOVE = r"(?:move|moving|switch|switching|transition|transitioning|go|going|pivot|pivoting|get|getting) (?:in)?to"
MOVE_RE = re.compile(rf"{MOVE}\b")

# --- Destination words: each course's own, from its course.yaml (course.vocabulary) -------------
# A destination's `words` (any case), `patterns` (regular expressions over the lowercased reply) and
# `acronyms` (as written: "um, I think 3" is not utilization management); its slug typed as itself
# ("change-setting", "change setting") reads too. `understand(text, words)` reads with the reader's
# course's vocabulary; without one, the built-in vocabulary (the clinical course's).
_WORDS: ContextVar[Vocabulary | None] = ContextVar("destination_words", default=None)


@cache
def destination_patterns(words: Vocabulary) -> tuple[list[tuple[str, re.Pattern]], list[tuple[str, re.Pattern]]]:
    """The compiled (slug, pattern) lists for `words`: over the lowercased text, and acronyms as written."""
    lowered, acronyms = [], []
    for item in words.destinations:
        phrases = [r"\s+".join(map(re.escape, word.lower().split())) for word in item.words if word.strip()]
        own = "[-_ ]".join(map(re.escape, item.slug.split("-")))
        lowered.append((item.slug, re.compile(rf"\b(?:{'|'.join([*item.patterns, *phrases, own])})\b")))
        if item.acronyms:
            acronyms.append((item.slug, re.compile(rf"(?<![\w-])(?:{'|'.join(item.acronyms)})(?![\w-])")))
    return lowered, acronyms


def _destination_words() -> Vocabulary:
    return _WORDS.get() or builtin_vocabulary()


# A destination counts as the reader's choice after one of these, before "track/role...", or on a short line.
DESTINATION_INTENT_BEFORE_RE = re.compile(
    r"\b(?:between|as an?|working as|work as|lean(?:ing)?|leaning more|lean more|toward|towards|interested in|interest in|switch(?:ing)?(?: me)?(?: over)?"
    r" to|change(?: me)?(?: my track)? to|mov(?:e|ing)(?: me)? to|go(?:ing)? (?:into|for|with)|focus(?:ing)? on"
    r"|pivot(?:ing)? (?:to|into)|transition(?:ing)? (?:to|into)|get(?:ting)? into|break(?:ing)? into|look(?:ing)? at"
    r"|consider(?:ing)?|prefer|want(?:s)?(?: to (?:do|try|go into|be in|work in))?|would like|i'd like|thinking (?:about|of)"
    r"|drawn to|excited about|set on|decided on|chose|choose|pick(?:ed)?|more into|track:?|thinking"
    r"|destination:?|try|trying|explore|exploring|aiming (?:at|for)|targeting|target|me interesa|decided(?: that)?"
    r"|settled on|commit(?:ted|ting)? to|going all in on|stick(?:ing)? with|my focus (?:is|to)|focus to|choice is|pick is"
    r"|cambiar(?:me)? a|prefiero|quiero|hacia|en)\s+(?:\w+\s+){0,2}$"
)
DESTINATION_INTENT_AFTER_RE = re.compile(
    r"^\s*(?:-\s*)?(?:track|path|route|roles?|jobs?|positions?|side|world|space|work|career|instead|please|for me"
    r"|is (?:the one|my (?:pick|choice|track)|(?:the |a )?(?:right|best|better|good) (?:fit|choice|path|move|direction"
    r"|one|track)|(?:it|for me))|fits|(?:sounds?|seems?|looks?|feels?) (?:right|like (?:the|my) (?:right |best )?(?:fit|one|track|path)))\b"
)
NEGATION_RE = re.compile(
    r"\b(?:not|no|never|nor|don't|dont|doesn't|didn't|haven't|havent|hasn't|hadn't|isn't|aren't|wasn't|won't|wont"
    r"|can't|cant|cannot|without|no longer|yet to|instead of|rather than|less|away from|out of|nunca|ni|sin"
    r"|ya no|todavia no|aun no|tampoco|pas|nicht|kein)\b[^.!?;\n]*$"
)
NEGATION_AFTER_RE = re.compile(r"^\W{0,3}(?:not yet|not anymore|not really|no longer|any ?more|todavia no|aun no)\b")
WISH_RE = re.compile(
    r"\b(?:hop(?:e|ing)|plan(?:ning)? (?:to|on)|want(?:ing)? to|would (?:like|love) to|wish|need to|should|trying to get"
    r"|someday|eventually|if i|once i|before i|until i|(?:will |to |going to )?wait(?:ing)? (?:for|on|until)|quiero|espero)\b[^.!?;\n]*$"
)
CURRENT_RE = re.compile(
    r"\b(?:now|currently|at the moment|right now|this week|next week|just|finally|today|started|starting|already"
    r"|ahora|actualmente|ya)\b"
)
NO_CHANGE_RE = re.compile(
    r"^\W*(?:no change|no changes|nothing (?:has )?changed|same (?:as )?(?:before|last (?:time|month))|still the same"
    r"|same stage|same place|same here|same|sin cambios|igual|lo mismo)\W*$"
)
COMMAND_LINE_WORDS = {
    "pause": "pause", "paused": "pause", "pausa": "pause", "pausar": "pause", "snooze": "pause", "hold": "pause",
    "resume": "resume", "unpause": "resume", "restart": "resume", "reanudar": "resume", "continuar": "resume",
    "stop": "stop", "unsubscribe": "stop", "cancel": "stop", "baja": "stop", "cancelar": "stop", "parar": "stop",
    "detener": "stop", "desuscribir": "stop", "desuscribirme": "stop",
}  # fmt: skip
COMMAND_FILLER = FILLER | _words(
    """the course emails email lessons lesson mails mail messages subscription sending me my these this it
    again now for a bit while few couple weeks week month months please pls can you could kindly thanks
    back ready i'm to want wanna would like de los correos el curso mi suscripcion darme dar por favor"""
)
COMMANDS: list[tuple[str, str]] = [
    (
        "pause",
        r"(?:please |pls |can you |could you |want to |like to |need to |going to |i'll |let's |i'd like to )pause"
        r"|pause (?:the|my|for|it|emails|these|everything|please|until|till|me)|pausing (?:the|my|for|it|emails|until)"
        r"|put (?:the course |it |me |my emails |everything )?on hold|hold off|take a break(?! from "
        r"(?!the course|the emails|emails|the lessons|this))|taking a break(?! from (?!the course|the emails|emails|this))"
        r"|snooze|skip (?:a few|the next|some) (?:weeks|emails)|pausar|pausa (?:por favor|el curso|los correos)",
    ),
    (
        "resume",
        r"(?:please |you can |ok to |okay to |ready to )?(?:resume|restart) (?:the |my )?(?:course|emails|lessons"
        r"|sending)|unpause|un-pause|i'?m back|start (?:the emails |the course )?again|pick (?:it |the course )?back up"
        r"|continue (?:the |my )?(?:course|emails|lessons)|reanudar|reanuden|continuar con el curso|vuelvo",
    ),
    (
        "stop",
        r"unsubscribe|unsubscribing|stop (?:sending|emailing|the emails|these emails|all emails|my subscription"
        r"|the course|this course|the lessons)|(?:please|want to|wanna|like to|going to|can you|could you) stop"
        r"(?= *(?:$|[.!,]|the (?:emails|course|lessons)|emails|sending|these|this|my|now|for good))"
        r"|remove me|take me off|opt(?:ing)? out|cancel (?:my|the) (?:subscription|course|enrol?lment|membership)"
        r"|no more emails|darme de baja|dar de baja|cancelar (?:mi )?(?:suscripcion|el curso)|no (?:me )?(?:envien|manden)"
        r" mas|desuscribir(?:me)?|dejar de recibir",
    ),
]
COMMAND_RES = [(command, re.compile(rf"\b(?:{pattern})\b")) for command, pattern in COMMANDS]


# --- The result ------------------------------------------------------------------------------


# Profile answers a reply may change: the license plan and the household pay need (intake questions 3, 4).
LICENSE = r"(?:my |the )?(?:clinical |nursing |medical |pharmacy |rn |np |pa )?licen[cs]es?"
PROFILE_PHRASES = [
    ("license_plan", "keep", rf"(?:decided|deciding|going|plan(?:ning)?|chose|choosing|opted) (?:to )?keep(?:ing)? {LICENSE}"
     rf"|(?:i'll|i will|i'm going to|we'll) keep {LICENSE}|keep(?:ing)? {LICENSE} (?:active|current)"
     rf"|{LICENSE} (?:stays|will stay) active"),
    ("license_plan", "let-go", rf"let(?:ting)? {LICENSE} (?:lapse|go)|(?:drop|dropping|give up|giving up|retire|retiring) {LICENSE}"
     rf"|{LICENSE} (?:can|will) lapse|not (?:going to )?renew(?:ing)? {LICENSE}"),
    ("license_plan", "unsure", rf"(?:not sure|unsure|undecided|haven't decided|have not decided) (?:about|on|what to do with)"
     rf" {LICENSE}|{LICENSE} (?:question|decision) is (?:still )?open"),
    ("pay_need", "match", r"(?:need|must|have) to (?:match|keep|earn|make) (?:what i (?:make|earn) now|my current (?:pay|salary|income))"
     r"|can(?:'t| ?not) (?:take|afford|absorb) (?:a |any )?(?:pay cut|drop in (?:pay|income))"),
    ("pay_need", "modest-drop", r"(?:can|could) (?:take|absorb|handle|afford|live with) (?:a )?(?:small |modest |some )?"
     r"(?:pay cut|drop in (?:pay|income)|cut in pay)"),
    ("pay_need", "flexible", r"(?:pay|money|salary) (?:isn't|is not|won't be) (?:the )?(?:deciding factor|issue|priority)"),
]  # fmt: skip
PROFILE_RES = [(kind, value, re.compile(rf"\b(?:{pattern})\b")) for kind, value, pattern in PROFILE_PHRASES]
PROFILE_LABELS = {"license_plan": ("license", LicensePlan), "pay_need": ("pay", PayNeed)}


@dataclass(frozen=True)
class Cue:
    kind: str  # stage | destination | command | license_plan | pay_need | no-change
    value: str
    evidence: str
    note: str = ""  # why it was not counted: negated, question, wish, mention; empty when it counts

    @property
    def counts(self) -> bool:
        return not self.note

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value, "evidence": self.evidence, "note": self.note}


@dataclass(frozen=True)
class Understanding:
    stage: str | None = None
    destination: str | None = None
    command: str | None = None
    no_change: bool = False
    problem: str = ""
    cues: tuple[Cue, ...] = field(default_factory=tuple)
    license_plan: str | None = None
    pay_need: str | None = None
    remainder: str = ""  # what the reply says beyond its answer: a question, a story, thanks (the thread keeps it)
    question: bool = False  # the remainder asks something a person should answer

    @property
    def clear(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        """In the reader's words: "stage 4, interviewing; destination medical affairs"."""
        parts = []
        if self.stage:
            parts.append(f"stage {Stage(self.stage).number}, {Stage(self.stage).label.lower()}")
        if self.destination:
            parts.append(f"destination {_label(self.destination)}")
        for kind in ("license_plan", "pay_need"):
            if getattr(self, kind):
                noun, choices = PROFILE_LABELS[kind]
                parts.append(f"{noun}: {choices(getattr(self, kind)).label.lower()}")
        if self.command:
            parts.append(
                {"pause": "pause the course", "resume": "resume the course", "stop": "stop the course"}[self.command]
            )
        if self.no_change and not parts:
            parts.append("no change")
        return "; ".join(parts) or "nothing"

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "destination": self.destination,
            "command": self.command,
            "license_plan": self.license_plan,
            "pay_need": self.pay_need,
            "no_change": self.no_change,
            "problem": self.problem,
            "summary": self.summary(),
            "cues": [cue.as_dict() for cue in self.cues],
            "remainder": self.remainder,
            "question": self.question,
        }


# --- Reading ----------------------------------------------------------------------------------

MAX_UNDERSTOOD = 2_000
# A stage number no cue explained, beside a destination: the reply is not applied in part.
BARE_STAGE_NUMBER_RE = re.compile(r"(?<![\w#.,/:-])[1-5](?![\w/:])")
# A character repeated past 40 ("-----…", "!!!!…") says nothing more; shortened, it costs the patterns nothing.
REPEATS_RE = re.compile(r"([^\n])\1{40,}")
# Words an answer line is made of: a line holding little else is the answer, not a message.
ANSWER_WORDS = FILLER | COMMAND_FILLER | set(COMMAND_LINE_WORDS) | set(STAGE_LABELS) | set(NUMBER_WORDS)
QUESTION_START_RE = re.compile(
    r"^\W*(?:how|what|when|where|why|who|which|can|could|would|should|is|are|do|does|did|will|any (?:advice|tips"
    r"|thoughts|ideas)|i was wondering|i wonder|wondering|question|quick question|como|que|cuando|donde|por que|puedo"
    r"|puede|pueden)\b"
)


def _remainder(cased: str, cues: list[Cue]) -> tuple[str, bool]:
    """The lines that say more than the answer (a cue's own words and filler taken out, over three
    words left, or a question), and whether they ask something."""
    evidence = sorted({c.evidence.lower() for c in cues if c.counts and c.evidence}, key=len, reverse=True)
    kept = []
    for line in cased.splitlines():
        rest = line.lower()
        for words in evidence:
            rest = rest.replace(words, " ")
        tokens = [t for t in ANSWER_TOKEN_RE.findall(rest) if t not in ANSWER_WORDS and not t.lstrip("#").isdigit()]
        if len(tokens) > 3 or (tokens and "?" in line):
            kept.append(line.strip())
    question = any("?" in line or QUESTION_START_RE.match(line.lower()) for line in kept)
    return "\n".join(kept)[:5000], question


def _clause_before(text: str, start: int, floor: int = 0) -> str:
    window = text[max(floor, start - 80) : start]
    breaks = list(CLAUSE_BREAK_RE.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def _sentence_ends_with_question(text: str, end: int) -> bool:
    stop = re.search(r"[.!?\n]", text[end : end + 200])
    return bool(stop and stop.group() == "?")


def _note(text: str, start: int, end: int, *, wish: bool = True, floor: int = 0) -> str:
    """Why a cue at text[start:end] is not an answer ("" when it is one)."""
    before = _clause_before(text, start, floor)
    last_words = " ".join(before.replace("can't wait", "").replace("cannot wait", "").split()[-5:])
    if NEGATION_RE.search(last_words) or NEGATION_AFTER_RE.search(text[end : end + 20]):
        return "negated"
    if wish and WISH_RE.search(last_words):
        return "a wish, not where they are"
    if _sentence_ends_with_question(text, end):
        return "in a question"
    return ""


def _number_value(token: str) -> int | None:
    token = token.lstrip("#")
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _answer_line(line: str) -> tuple[list[int], list[int]] | None:
    """A line that is only a stage answer ("3", "#3", "I'm a 3 now, thanks", "3 - searching", "tres"):
    (numbers, stage labels), or None when the line says more than that."""
    tokens = ANSWER_TOKEN_RE.findall(line)
    if not tokens or len(tokens) > 12:
        return None
    numbers, labels = [], []
    for token in tokens:
        if token.startswith("#") or token.isdigit() or token in NUMBER_WORDS:
            value = _number_value(token)
            if value is None or (token.lstrip("#").isdigit() and len(token.lstrip("#")) > 2):
                return None
            if token in ("one", "uno", "first") and len(tokens) > 1:
                continue  # "this one", "the first one", "that's one": not an answer on a chatty line
            numbers.append(value)
        elif token in STAGE_LABELS:
            labels.append(STAGE_LABELS[token])
        elif token not in FILLER:
            return None
    if not numbers:
        return None
    return numbers, labels


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < b and a < end for a, b in spans)


def _stage_cues(text: str, numbers_text: str) -> list[Cue]:
    cues: list[Cue] = []
    claimed: list[tuple[int, int]] = []
    offset = 0
    for line in numbers_text.split("\n"):
        # A line that held a phone number, a date or an amount is not a bare answer.
        answer = _answer_line(line) if line == text[offset : offset + len(line)] else None
        if answer is not None:
            numbers, labels = answer
            note = (
                "negated" if re.match(r"\W*not\b", line) else ("in a question" if line.rstrip().endswith("?") else "")
            )
            evidence = text[offset : offset + len(line)].strip()
            cues += [Cue("stage-number", str(number), evidence, note) for number in numbers]
            cues += [Cue("stage", STAGES[label - 1], evidence, note) for label in labels]
            claimed.append((offset, offset + len(line)))
        offset += len(line) + 1

    for pattern in (LEADING_NUMBER_RE, CUED_NUMBER_RE, CUED_NUMBER_AFTER_RE):
        for match in pattern.finditer(numbers_text):
            value = _number_value(match.group(1))
            if value is None or _overlaps(claimed, match.start(), match.end()):
                continue
            claimed.append((match.start(), match.end()))
            cues.append(
                Cue("stage-number", str(value), match.group(0).strip(), _note(text, match.start(), match.end()))
            )

    found = [(number, m.start(), m.end()) for number, pattern in STAGE_PHRASE_RES for m in pattern.finditer(text)]
    for number, start, end in sorted(found, key=lambda f: (f[1] - f[2], f[1])):  # longest first
        if _overlaps(claimed, start, end):
            continue
        claimed.append((start, end))
        note = _note(text, start, end)
        if number == 1 and note == "negated":
            continue  # "not deciding" says nothing about where they are
        cues.append(Cue("stage", STAGES[number - 1], text[start:end], note))
    return cues


def _destination_cues(text: str, cased: str) -> list[Cue]:
    destination_res, acronym_res = destination_patterns(_destination_words())
    found = [(slug, m.start(), m.end()) for slug, pattern in destination_res for m in pattern.finditer(text)]
    found += [(slug, m.start(), m.end()) for slug, pattern in acronym_res for m in pattern.finditer(cased)]
    kept: list[tuple[str, int, int]] = []
    for slug, start, end in sorted(found, key=lambda f: (f[1] - f[2], f[1])):  # longest first
        if not any(start < b and a < end for _, a, b in kept):
            kept.append((slug, start, end))
    kept.sort(key=lambda f: f[1])
    cues: list[Cue] = []
    previous_end = 0
    for slug, start, end in kept:
        evidence = cased[start:end]
        if cues and re.fullmatch(r"\s*(?:,|and|or|&|/|y|o|,? and|,? or)\s*", text[previous_end:start]):
            cues.append(
                Cue("destination", str(slug), evidence, cues[-1].note)
            )  # "consulting and pharma": same as the first
            previous_end = end
            continue
        note = _note(text, start, end, wish=False, floor=previous_end)
        if not note and re.search(r"\bfrom (?:the |a |an |working in )?$", text[max(0, start - 20) : start]):
            note = "negated"
        if not note:
            before = _clause_before(text, start, previous_end)
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", end)
            line = text[line_start : line_end if line_end >= 0 else None]
            if not (
                MOVE_RE.match(evidence.lower())
                or len(ANSWER_TOKEN_RE.findall(line)) <= 6
                or DESTINATION_INTENT_BEFORE_RE.search(" ".join(before.split()[-4:]) + " ")
                or DESTINATION_INTENT_AFTER_RE.search(text[end:])
            ):
                note = "mentioned, not chosen"
        cues.append(Cue("destination", str(slug), evidence, note))
        previous_end = end
    return cues


# "Please move me to that track" after naming one destination: that destination is the choice.
THAT_TRACK_RE = re.compile(
    r"\b(?:move|switch|put|change|sign|transfer) me (?:over )?(?:to|into|onto|on|up for) (?:that|this|the same|the)"
    r" (?:one|track|path|destination|direction|route)\b(?! for)|\b(?:that|this)(?:'s| is| one is) (?:my|the) "
    r"(?:track|choice|pick|path|destination)\b|\bi(?:'ll| will)? (?:take|choose|pick) (?:that|this) (?:track|one|path)\b"
)


def _that_track(cues: list[Cue], text: str) -> list[Cue]:
    """One destination mentioned before "move me to that track" is the one chosen."""
    request = THAT_TRACK_RE.search(text)
    if request is None or _note(text, request.start(), request.end(), wish=False):
        return cues
    named = [c for c in cues if c.kind == "destination" and c.note in ("", "mentioned, not chosen")]
    before = {c.value for c in named if 0 <= text.find(c.evidence.lower()) < request.start()}
    if len(before) != 1 or any(c.counts for c in named if c.value not in before):
        return cues
    (value,) = before
    return [Cue(c.kind, c.value, c.evidence) if c.kind == "destination" and c.value == value else c for c in cues]


def _command_cues(text: str) -> list[Cue]:
    cues: list[Cue] = []
    for line in text.split("\n"):
        tokens = ANSWER_TOKEN_RE.findall(line)
        commands = {COMMAND_LINE_WORDS[t] for t in tokens if t in COMMAND_LINE_WORDS}
        if (
            len(commands) == 1
            and len(tokens) <= 8
            and all(t in COMMAND_LINE_WORDS or t in COMMAND_FILLER for t in tokens)
            and not any(t in ("not", "don't", "dont", "never") for t in tokens)
        ):
            request = re.search(r"\b(?:can|could|would) you\b|\bplease\b", line)
            note = "in a question" if "?" in line and not request else ""
            cues.append(Cue("command", commands.pop(), line.strip(), note))
    for command, pattern in COMMAND_RES:
        for match in pattern.finditer(text):
            if any(c.value == command and match.group(0) in c.evidence.lower() for c in cues):
                continue
            before = " ".join(_clause_before(text, match.start()).split()[-5:])
            note = "negated" if NEGATION_RE.search(before) and not match.group(0).startswith("no ") else ""
            if not note and re.search(r"\b(?:if|whether|when|should i|what happens)\b", before):
                note = "a condition, not a request"
            cues.append(Cue("command", command, match.group(0), note))
    return cues


def _profile_cues(text: str) -> list[Cue]:
    cues = []
    for kind, value, pattern in PROFILE_RES:
        for match in pattern.finditer(text):
            note = _note(text, match.start(), match.end(), wish=False)
            cues.append(Cue(kind, value, match.group(), note))
    return cues


def _first_per_value(cues: list[Cue]) -> list[Cue]:
    seen: dict[str, Cue] = {}
    for cue in cues:
        seen.setdefault(cue.value, cue)
    return list(seen.values())


def _sentence_of(text: str, evidence: str) -> str:
    index = text.find(evidence.lower())
    if index < 0:
        return ""
    start = max(text.rfind(mark, 0, index) for mark in ".!?;\n") + 1
    ends = [i for i in (text.find(mark, index) for mark in ".!?;\n") if i >= 0]
    return text[start : min(ends) if ends else None]


def _is_current(text: str, evidence: str) -> bool:
    """Whether a stage cue is marked as now ("I'm now applying", "interview next week"), not as history."""
    index = text.find(evidence)
    if index < 0:
        return False
    before = " ".join(text[max(0, index - 60) : index].split()[-4:])
    after = text[index + len(evidence) : index + len(evidence) + 30]
    return bool(CURRENT_RE.search(before) or re.match(r"\W*(?:next week|this week|tomorrow|today|on \w+day)", after))


def _decide_stage(cues: list[Cue], text: str) -> tuple[str | None, str]:
    numbers = [c for c in cues if c.kind == "stage-number" and c.counts]
    in_range = {int(c.value) for c in numbers if 1 <= int(c.value) <= len(STAGES)}
    out_of_range = [c for c in numbers if not 1 <= int(c.value) <= len(STAGES)]
    phrases = [c for c in cues if c.kind == "stage" and c.counts]
    by_phrase = {STAGES.index(c.value) + 1 for c in phrases}
    if len(in_range) > 1:
        return None, "two stage numbers: " + " and ".join(str(n) for n in sorted(in_range))
    if in_range:
        (number,) = in_range
        if by_phrase and number not in by_phrase:
            other = phrases[0]
            return None, f'says stage {number} but also "{other.evidence}" (stage {STAGES.index(other.value) + 1})'
        return STAGES[number - 1], ""
    if out_of_range:
        return None, f"{out_of_range[0].value} is not a stage number (1-{len(STAGES)})"
    if len(by_phrase) == 1:
        return phrases[0].value, ""
    if len(by_phrase) > 1:
        current = {c.value for c in phrases if _is_current(text, c.evidence)}
        if len(current) == 1:
            return current.pop(), ""
        described = "; ".join(f'stage {STAGES.index(c.value) + 1} ("{c.evidence}")' for c in _first_per_value(phrases))
        return None, f"reads as more than one stage: {described}"
    return None, ""


def _where_they_apply(cues: list[Cue], text: str) -> list[Cue]:
    """A destination named in the same sentence as searching, interviewing or landing ("interviewing
    with a health plan", "accepted an offer at a biotech") is where the reader is going."""
    late_sentences = [
        _sentence_of(text, c.evidence)
        for c in cues
        if c.counts and c.kind == "stage" and STAGES.index(c.value) >= STAGES.index(Stage.SEARCHING)
    ]
    return [
        Cue(c.kind, c.value, c.evidence)
        if c.note == "mentioned, not chosen" and any(c.evidence.lower() in sentence for sentence in late_sentences)
        else c
        for c in cues
    ]


def _label(slug: str) -> str:
    return _destination_words().destination_label(slug).lower()


def understand(text: str, words: Vocabulary | None = None) -> Understanding:
    """What a check-in reply asks for, with the evidence; `problem` says why nothing should change.
    An answer comes first: only the first MAX_UNDERSTOOD characters are read (bounded work).
    `words`: the reader's course's vocabulary (its destinations and the words for each)."""
    token = _WORDS.set(words)
    try:
        return _understand(text)
    finally:
        _WORDS.reset(token)


def _understand(text: str) -> Understanding:
    cased = clean_lines(_plain(REPEATS_RE.sub(lambda m: m.group(1) * 40, (text or "")[:MAX_UNDERSTOOD])))
    folded = cased.lower()
    if len(folded) != len(cased):  # a rare character whose lower case is longer: keep offsets aligned
        cased = folded
    numbers_text = NOT_ANSWERS_RE.sub(lambda m: " " * len(m.group()), folded)
    cues = (
        _stage_cues(folded, numbers_text)
        + _that_track(_destination_cues(folded, cased), folded)
        + _command_cues(folded)
    )
    stage, stage_problem = _decide_stage(cues, folded)
    cues = _where_they_apply(cues, folded) + _profile_cues(folded)
    profile, profile_problem = {}, ""
    for kind in ("license_plan", "pay_need"):
        values = {c.value for c in cues if c.kind == kind and c.counts}
        if len(values) > 1:
            profile_problem = (
                profile_problem or f"two answers about {PROFILE_LABELS[kind][0]}: {' and '.join(sorted(values))}"
            )
        elif values:
            profile[kind] = values.pop()

    chosen = [c for c in cues if c.kind == "destination" and c.counts]
    ruled_out = [c for c in cues if c.kind == "destination" and c.note == "negated"]
    destinations = {c.value for c in chosen}
    destination, destination_problem = None, ""
    if len(destinations) > 1:
        destination_problem = "more than one destination: " + " and ".join(
            f'{_label(c.value)} ("{c.evidence}")' for c in _first_per_value(chosen)
        )
    elif destinations:
        destination = destinations.pop()

    commands = {c.value for c in cues if c.kind == "command" and c.counts}
    command, command_problem = None, ""
    if len(commands) > 1:
        command_problem = "asks to " + " and to ".join(sorted(commands))
    elif commands:
        command = commands.pop()

    no_change = bool(NO_CHANGE_RE.match(folded.strip()))
    if no_change:
        cues.append(Cue("no-change", "same", cased.strip()))
    problem = stage_problem or destination_problem or command_problem or profile_problem
    unread_stage = BARE_STAGE_NUMBER_RE.search(numbers_text) if destination and not stage else None
    if not problem and unread_stage:  # a stage and a destination apply together or not at all
        problem = f'names a destination, and a stage we could not read ("{unread_stage.group(0)}"): neither applies'
    if not problem and ruled_out and not destination:
        problem = f'rules out {_label(ruled_out[0].value)} ("{ruled_out[0].evidence}") without naming a new destination'
    if not problem and not (stage or destination or command or no_change or profile):
        if not folded.strip():
            problem = (
                "no new text in the reply" if not (text or "").strip() else "only a greeting, sign-off or signature"
            )
        elif "?" in folded:
            problem = "the reader asks a question"
        elif any(c.note for c in cues):
            skipped = next(c for c in cues if c.note)
            problem = f'no answer found ("{skipped.evidence}": {skipped.note})'
        else:
            problem = "no stage, destination or command found"
    remainder, question = _remainder(cased, cues)
    if problem:
        return Understanding(problem=problem, cues=tuple(cues), remainder=remainder, question=question)
    return Understanding(stage=stage, destination=destination, command=command, no_change=no_change, cues=tuple(cues),
                         remainder=remainder, question=question, **profile)  # fmt: skip
