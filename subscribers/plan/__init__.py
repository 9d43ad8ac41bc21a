"""The plan: a signed page (and the welcome email) saying what the course does with each of the
reader's answers, the phases of their year and the next emails."""
