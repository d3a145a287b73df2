"""E.164 normalisation, shared by the hooks in functions.py (imported as a sibling module)."""

import re


def normalise_phone(raw):
    """``(555) 010-0199`` → ``+15550100199``; ``+44 20 7946 0958`` → ``+442079460958``."""
    digits = re.sub(r"\D", "", str(raw))
    if str(raw).strip().startswith("+") and 8 <= len(digits) <= 15:
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None
