"""Operations: the dashboard and its charts, a reader's timeline, the CSV exports and the cohort
simulation."""
