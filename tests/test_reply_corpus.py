"""The reply corpus: real-client-shaped `.eml` files in tests/fixtures/replies/, each processed
through the real path (store → process) for a reader who was sent the check-in, with the outcome
the manifest expects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from anymail.inbound import AnymailInboundMessage

from subscribers.models import Reply
from subscribers.readers.addresses import reply_token
from subscribers.replies import inbound
from tests.conftest import send_checkin

CORPUS = Path(__file__).resolve().parent / "fixtures" / "replies"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text())


def test_the_corpus_is_large_and_every_file_has_an_expected_outcome():
    files = {path.name for path in CORPUS.glob("*.eml")}
    assert len(files) >= 95
    assert files == set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_reply_in_the_corpus_has_its_expected_outcome(name, carol):
    expected = MANIFEST[name]
    delivery = send_checkin(carol)
    raw = (CORPUS / name).read_bytes().replace(b"TOKEN", reply_token(carol.pk, delivery.pk).encode())

    reply = inbound.store(AnymailInboundMessage.parse_raw_mime_bytes(raw), esp="test")
    inbound.process(reply.pk)

    reply.refresh_from_db()
    carol.refresh_from_db()
    assert reply.status == expected["status"], (reply.reason, reply.new_text, reply.understood.get("cues"))
    if "new_text" in expected:  # what the thread keeps: no quote header, no lost characters
        assert reply.new_text == expected["new_text"]
    if expected["status"] == Reply.Status.APPLIED:
        understood = reply.understood
        assert (understood["stage"], understood["destination"], understood["command"]) == (
            expected.get("stage"), expected.get("destination"), expected.get("command"),
        ), (reply.new_text, understood["cues"])  # fmt: skip
        assert carol.stage == (expected.get("stage") or "deciding")
        assert carol.destination == (expected.get("destination") or "undecided")
    else:
        assert expected["reason"].lower() in reply.reason.lower(), (reply.reason, reply.new_text)
        assert (carol.stage, carol.destination, carol.status) == ("deciding", "undecided", "active")
