"""Readers, what every flow builds on: enrolment, the one writer of their state (changes), the
audit trail, their course clock, and the signed links and addresses that name them."""
