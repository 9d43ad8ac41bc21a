"""Sending: the tick, claiming and sending deliveries, retries, the send journal, the ESP rate,
SMTP, the local outbox, every email's content, and the ESP's tracking webhooks."""
