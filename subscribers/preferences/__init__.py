"""Preferences: the signed page where a reader pauses, resumes, changes track and weekly time, or
unsubscribes (one click too), and reads the lessons sent so far."""
