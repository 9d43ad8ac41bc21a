"""Replies: storing inbound mail, reading and understanding it, applying and confirming it, the
undo link and the review queue."""
