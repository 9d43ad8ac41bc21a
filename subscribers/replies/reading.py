"""What the reader wrote, out of an inbound email: the body decoded whatever its charset, the work
bounded, quoted mail and signatures removed (mail-parser-reply, in every language it supports, plus
the headers it misses).

Bounds: mail-parser-reply's patterns are quadratic in blank lines ("3" then 20,000 empty lines took
38 s), so before it runs, runs of blank lines become one, a quoted block keeps its first lines, and
longer lines are wrapped at MAX_LINE characters (its header patterns are cubic in line length), and
the text is cut to MAX_LINES lines, MAX_TEXT characters in all; HTML is cut to MAX_HTML before it is
parsed. Whatever the message, reading it takes a few milliseconds
(tests/test_reply_reading.py, bench/inbound.py).
"""

from __future__ import annotations

import binascii
import codecs
import quopri
import re
import textwrap

import inscriptis
import lxml.html
from anymail.inbound import AnymailInboundMessage
from mailparser_reply import EmailMessage as ReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

# Every language mail-parser-reply has quote headers for ("david" is one vendor's header, not a language).
REPLY_LANGUAGES = ["en", *sorted(language for language in MAIL_LANGUAGES if language not in ("en", "david"))]
MAX_TEXT = 4_000
MAX_LINES = 120
MAX_LINE = 250
# Lines longer than this, and not ending in ":" or shaped like "Header: value", cannot be a quote
# header: mail-parser-reply sees a placeholder instead (its patterns are cubic in line length).
SHIELD_OVER = 80
SHIELD = "\u2063"
MAX_HTML = 100_000
MAX_PAYLOAD = 2_000_000  # bytes of a text part decoded at all
QUOTED_LINES_KEPT = 3
# A character repeated past 40 ("-----…", 32 underscores make Outlook's separator) is shortened to 40.
REPEATS_RE = re.compile(r"([^\n])\1{40,}")
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
# Charset names mail clients write that Python does not know, and what they mean.
CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8", "iso-8859-8-e": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6", "x-sjis": "shift_jis", "x-euc-jp": "euc_jp", "ks_c_5601-1987": "cp949",
    "windows-874": "cp874", "x-mac-roman": "mac_roman", "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8",
    "ansi_x3.4-1968": "ascii", "x-user-defined": "cp1252", "gb2312": "gbk", "x-gbk": "gbk",
}  # fmt: skip

# "-----Original Message-----" and its variants and translations: three dashes or five, spaces or
# none, underscores, equals signs or stars around it.
ORIGINAL_MESSAGE = (
    r"original message|original e-?mail|forwarded message|mensaje original|mensaje reenviado|message d'origine"
    r"|message original|message transf[ée]r[ée]|urspr[üu]ngliche nachricht|weitergeleitete nachricht"
    r"|messaggio originale|messaggio inoltrato|oorspronkelijk bericht|doorgestuurd bericht|originalmeddelande"
    r"|vidarebefordrat meddelande|oprindelig meddelelse|videresendt meddelelse|wiadomo[śs][ćc] oryginalna"
    r"|p[ůu]vodn[íi] zpr[áa]va|mensagem original|mensagem encaminhada|исходное сообщение|пересланное сообщение"
    r"|оригинальное сообщение|原始邮件|転送メッセージ|元のメッセージ|원본 메시지"
)
SEPARATOR_RE = re.compile(rf"^[>\s]*[-_=*]{{2,}}\s*(?:{ORIGINAL_MESSAGE})\s*[-_=*]{{2,}}\s*$", re.IGNORECASE)
# Outlook-style header blocks in languages mail-parser-reply lacks (Russian, Portuguese, Ukrainian, Turkish).
FOREIGN_FROM_RE = re.compile(
    r"^[>\s*]*(?:от|отправлено|кому|тема|дата|de|enviada|enviado|para|assunto|data|від|надіслано|кому|тема"
    r"|kimden|gönderildi|kime|konu|tarih)\s*:\s*\S",
    re.IGNORECASE,
)
# A line naming an address that ends with ":" and is followed by quoted lines is a quote header in any
# language (a Russian Gmail's date line, "Em seg., 2 de mar. ... <course@...> escreveu:").
ADDRESS_HEADER_RE = re.compile(r"^[^>].{0,250}[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?\)?\s*(?:\S{1,20}\s*)?:\s*$")
# What mail-parser-reply reads as a quote header: ours are rewritten to it.
STANDARD_WROTE = "On an earlier date, the course wrote:"
STANDARD_SEPARATOR = "-----Original Message-----"
GREETING_RE = re.compile(
    r"^\W*(?:hi|hey|hello|hiya|dear|good (?:morning|afternoon|evening)|hola|buenas|buenos d[ií]as|bonjour|salut"
    r"|hallo|guten tag|ciao|ol[áa]|oi|привет|здравствуйте|добрый день)\b[\w .,'\u2019-]{0,40}[,.!:]?\W*$",
    re.IGNORECASE,
)
QUOTE_SELECTORS = (
    "//blockquote | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[contains(@class, 'yahoo_quoted')] | //*[@id='divRplyFwdMsg'] | //*[@id='appendonsend']"
    " | //*[contains(@class, 'moz-cite-prefix')] | //*[@type='cite'] | //*[contains(@id, 'reply-intro')]"
    " | //*[contains(@class, 'OutlookMessageHeader')] | //*[contains(@class, 'gmail_signature')]"
    " | //*[@data-smartmail='gmail_signature'] | //*[contains(@id, 'Signature')] | //*[contains(@class, 'signature')]"
)


# --- Decoding -------------------------------------------------------------------------------


def _codec(charset: str | None) -> str | None:
    name = (charset or "").strip().strip("\"'").lower()
    name = CHARSET_ALIASES.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _payload_bytes(part: AnymailInboundMessage, max_bytes: int) -> tuple[bytes | None, bool]:
    """The part's decoded bytes, at most about `max_bytes`, decoding only that much of a huge part;
    and whether it was cut."""
    # The stored payload as is: get_payload() first scans all of it for surrogates (~100 ms at 35 MB).
    encoded = part._payload
    if not isinstance(encoded, str) or len(encoded) <= max_bytes:
        return part.get_payload(decode=True), False
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    head = encoded[:max_bytes]
    if encoding == "base64":
        compact = re.sub(r"[^A-Za-z0-9+/]", "", head)
        return binascii.a2b_base64(compact[: len(compact) // 4 * 4]), True
    if encoding == "quoted-printable":
        return quopri.decodestring(head[: head.rfind("\n") + 1 or None].encode("ascii", "replace")), True
    return head.encode("utf-8", "surrogateescape"), True


def decode_part(part: AnymailInboundMessage, max_bytes: int = MAX_PAYLOAD) -> str:
    """A text part's words whatever its charset says: the declared one when Python knows it, else
    UTF-8, else Windows-1252 (which maps every byte), so nothing is lost to a bogus or missing name."""
    payload, cut = _payload_bytes(part, max_bytes)
    if payload is None:
        return ""
    if isinstance(payload, str):
        return payload
    declared = _codec(part.get_param("charset", header="content-type") if part.get("Content-Type") else None)
    for codec in (declared, "utf-8"):
        if codec is None:
            continue
        try:
            return payload.decode(codec)
        except UnicodeDecodeError as error:
            if cut and error.start >= len(payload) - 6:  # a character cut in two by the bound
                return payload[: error.start].decode(codec, "replace")
        except LookupError:
            continue
    return payload.decode("cp1252", "replace")


def body(message: AnymailInboundMessage, content_type: str, limit: int) -> str:
    """The first body part of a type (not an attachment), decoded, at most `limit` characters."""
    for part in message.walk():
        if part.get_content_type() == content_type and not part.is_attachment():
            return re.sub(r"\r\n?", "\n", decode_part(part, limit * 2)[:limit])
    return ""


# --- Bounding and quote headers -----------------------------------------------------------------


def bounded(text: str) -> str:
    """The text mail-parser-reply may read (module docstring): blank runs as one line, quoted blocks
    cut to their first lines, a line repeated in a row kept twice, long lines wrapped, at most
    MAX_LINES lines and MAX_TEXT characters."""
    lines: list[str] = []
    blank = quoted = repeated = size = 0
    for raw in REPEATS_RE.sub(lambda m: m.group(1) * 40, text[: MAX_TEXT * 5]).split("\n"):
        line = raw.strip().strip(INVISIBLE).strip()
        if not line:
            blank += 1
            if blank > 1:
                continue
        else:
            blank = 0
        quoted = quoted + 1 if line.startswith(">") else 0
        if quoted > QUOTED_LINES_KEPT:
            continue
        repeated = repeated + 1 if lines and line == lines[-1] else 0
        if line and repeated >= 2:  # the same line a third time in a row adds nothing
            continue
        pieces = textwrap.wrap(line[:MAX_TEXT], MAX_LINE, break_on_hyphens=False) if len(line) > MAX_LINE else [line]
        for piece in pieces:
            lines.append(piece)
            size += len(piece) + 1
            if len(lines) >= MAX_LINES or size >= MAX_TEXT:
                return "\n".join(lines)[:MAX_TEXT]
    return "\n".join(lines)


def standard_headers(text: str) -> str:
    """Quote headers mail-parser-reply misses, rewritten as ones it reads: "---Original Message---"
    variants and translations, Outlook header blocks in other languages, and any line naming an
    address and ending with ":" right above quoted lines (a header in any language)."""
    lines = text.split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        if SEPARATOR_RE.match(line):
            out.append(STANDARD_SEPARATOR)
            continue
        if (
            FOREIGN_FROM_RE.match(line)
            and index + 1 < len(lines)
            and FOREIGN_FROM_RE.match(lines[index + 1])
            and not (index and FOREIGN_FROM_RE.match(lines[index - 1]))
            and not (out and out[-1] == STANDARD_SEPARATOR)
        ):
            out.append(STANDARD_SEPARATOR)
        elif "@" in line and line.endswith(":") and ADDRESS_HEADER_RE.match(line) and _quoted_after(lines, index):
            out.append(STANDARD_WROTE)
            continue
        out.append(line)
    return "\n".join(out)


def _quoted_after(lines: list[str], index: int) -> bool:
    following = [line for line in lines[index + 1 : index + 4] if line]
    return bool(following) and following[0].startswith(">")


# --- The reader's words -------------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """The reply part of an HTML-only email: quoted blocks and signatures removed, then text (inscriptis)."""
    html = html[:MAX_HTML]
    try:
        tree = lxml.html.fromstring(html)
        for node in tree.xpath(QUOTE_SELECTORS):
            parent = node.getparent()
            if parent is not None:
                if node.get("id") in ("divRplyFwdMsg", "appendonsend"):
                    for sibling in list(node.itersiblings()):
                        parent.remove(sibling)
                parent.remove(node)
        html = lxml.html.tostring(tree, encoding="unicode")
    except Exception:  # not parseable as HTML: let inscriptis do what it can
        pass
    return inscriptis.get_text(html)


HEADER_LIKE_RE = re.compile(r"^[>*\s]*[\w-]{1,25}\s*:\s")
SHIELDED_RE = re.compile(f"{SHIELD}(\\d+){SHIELD}")


def _shield(text: str) -> tuple[str, list[str]]:
    kept: list[str] = []
    lines = []
    for line in text.split("\n"):
        if len(line) > SHIELD_OVER and not line.endswith(":") and not HEADER_LIKE_RE.match(line):
            lines.append(f"{SHIELD}{len(kept)}{SHIELD}")
            kept.append(line)
        else:
            lines.append(line)
    return "\n".join(lines), kept


def _unshield(text: str, kept: list[str]) -> str:
    return SHIELDED_RE.sub(lambda match: kept[int(match.group(1))], text)


def _parse(text: str):
    return ReplyParser(text=text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read().replies


def _below_quote(reply) -> str:
    """What was written under a quote (bottom-posting, Thunderbird style): its unquoted lines."""
    below = reply.content.replace(reply.headers, "", 1)
    text = "\n".join(line for line in below.splitlines() if not line.lstrip().startswith(">"))
    replies = _parse(text)
    return replies[0].body if replies else ""


def _only_greeting(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) <= 2 and all(GREETING_RE.match(line) for line in lines)


def new_text(message: AnymailInboundMessage) -> str:
    """Only what the reader wrote: no quoted email, no signature. Bounded work (module docstring)."""
    text = body(message, "text/plain", MAX_TEXT * 5)
    if not text.strip():
        html = body(message, "text/html", MAX_HTML)
        if html.strip():
            text = html_to_text(html)
    shielded, kept = _shield(standard_headers(bounded(text)))
    replies = _parse(shielded)
    if not replies:
        return ""
    first = replies[0]
    if first.headers:
        # The message starts with the quote: nothing new, or an answer written below it.
        written = _below_quote(first)
    elif _only_greeting(first.body) and len(replies) > 1:
        # "Hi," above the quote and the answer below it: both are the reader's.
        written = f"{first.body}\n{_below_quote(replies[1])}"
    else:
        written = first.body
    lines = [line for line in _unshield(written, kept).splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()[:5000]
