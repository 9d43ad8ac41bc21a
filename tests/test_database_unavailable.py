"""A webhook that arrives while the database is unreachable is answered 503 (retry), not 500."""

from __future__ import annotations

from unittest import mock

from django.db import OperationalError

from subscribers.signup import checkout


def test_it_answers_503_with_retry_after_when_the_database_is_unreachable(client):
    with mock.patch.object(checkout, "receive_event", side_effect=OperationalError("server closed the connection")):
        response = client.post("/stripe/webhook/", b"{}", content_type="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "nothing was changed" in response.text
