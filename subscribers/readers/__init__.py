"""Readers: enrolment, the one writer of their state (changes), the audit trail, their course
clock, their signed links and the preferences page."""
