"""Which passwords are accepted: NIST SP 800-63B (rev. 4, §3.1.1.2), issue 16 item 13.

- At least ``MIN_LENGTH`` = 15 characters (Unicode code points): the password is the
  only factor of a login here, and 800-63B asks 15 for single-factor passwords (8 only
  when it is one factor of several). At most ``MAX_LENGTH`` (argon2 hashes any length;
  the bound keeps one login's work finite).
- Every printable character and the space are allowed; control characters (Unicode
  category Cc: NUL, tab, newline, escape, DEL …) and unassigned or surrogate code points
  are refused, as is a password of spaces only.
- No composition rules (no "one digit, one capital"), as 800-63B says.
- Blocklist: refused when it is on the common-password list of the ``zxcvbn`` package
  (30 000 most common passwords from leaked sets, MIT licence) or when zxcvbn estimates
  fewer than ``MIN_GUESSES`` guesses (dictionary words, names, keyboard walks, repeats,
  sequences, dates and their l33t variants) — 10^10, zxcvbn's "very unguessable" class.
- Context-specific words: it may not contain the user's username or the local part of
  their e-mail address.

:func:`problem` answers the reason or None; ``wework.services.fields.check_password`` turns
it into a ValidationError naming the field.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable

from zxcvbn import zxcvbn
from zxcvbn.matching import RANKED_DICTIONARIES

MIN_LENGTH = 15
MAX_LENGTH = 1024
MIN_GUESSES = 10**10
_ESTIMATED_PREFIX = 72  # zxcvbn's own bound; more characters only add guesses
_MIN_CONTEXT_WORD = 3

_COMMON = frozenset(RANKED_DICTIONARIES["passwords"])
# zxcvbn() stores its user_inputs in a module-global dictionary: one call at a time.
_zxcvbn_lock = threading.Lock()
_REFUSED_CATEGORIES = {"Cc", "Cs", "Cn"}


def _bad_character(password: str) -> str | None:
    for ch in password:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def problem(password: object, context: Iterable[str | None] = ()) -> str | None:
    """Why ``password`` is refused, or None when it is acceptable. ``context``: the
    username, e-mail address and the like, which the password must not contain."""
    if not isinstance(password, str):
        return "must be text"
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters (a passphrase of a few words works)"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    bad = _bad_character(password)
    if bad is not None:
        return f"must not contain control characters ({bad})"
    if not password.strip():
        return "must not be only spaces"
    lowered = password.lower()
    for word in context:
        word = (word or "").split("@")[0].lower()
        if len(word) >= _MIN_CONTEXT_WORD and word in lowered:
            return "must not contain your username or e-mail name"
    if lowered in _COMMON:
        return "is a commonly used password (it is on a list of breached passwords)"
    with _zxcvbn_lock:
        guesses = zxcvbn(password[:_ESTIMATED_PREFIX])["guesses"]
    if guesses < MIN_GUESSES:
        return ("is too easy to guess (common words, names, keyboard patterns, repeats or "
                "sequences); use a longer passphrase of unrelated words")
    return None
