"""Sign-up: the course page, the intake form, Stripe Checkout (or the local signed checkout) and
its webhook."""
