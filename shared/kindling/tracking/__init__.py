"""Open/click/unsubscribe tracking: signed tokens and scanner filtering.

Imported by the public tracking function, whose cold start must stay tiny: modules here use the standard
library only.
"""
