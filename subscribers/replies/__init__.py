"""Replies: storing inbound mail, reading and understanding it, the signed reply addresses, the
undo link and the review queue."""
