"""Field validation and normalisation shared by lead capture and the importers.

Each function returns the normalised value or raises ``ValueError`` with a message naming the problem,
so callers can collect problems per field (and per row) before changing anything.
"""

from __future__ import annotations

import re
import unicodedata

_COMPANY_SUFFIXES = re.compile(
    r"\b(inc|incorporated|llc|l\.l\.c|ltd|limited|gmbh|ag|sa|s\.a|sas|bv|b\.v|nv|plc|co|corp|corporation|company|srl|spa|oy|ab|as|pty)\b\.?",
    re.IGNORECASE,
)


def normalize_email(value: str) -> str:
    """Syntax check and normalise (lower-case domain and local part); no DNS look-up, works offline."""
    from email_validator import EmailNotValidError, validate_email

    candidate = value.strip()
    if not candidate:
        raise ValueError("is empty")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{candidate!r} is not a valid email address ({exc})") from None
    return result.normalized.lower()


def normalize_phone(value: str, default_region: str = "US") -> str:
    """Parse a phone number as written by people and return it in E.164 (+14155550123)."""
    import phonenumbers

    candidate = value.strip()
    if not candidate:
        raise ValueError("is empty")
    try:
        parsed = phonenumbers.parse(candidate, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{candidate!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{candidate!r} is not a valid phone number for region {default_region.upper()}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def company_key(name: str | None) -> str | None:
    """A comparison key for company names: accents, case, punctuation and legal suffixes removed.

    "ACME, Inc." and "Acme" share the key "acme"; used for duplicate detection, never shown.
    """
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ")
    text = _COMPANY_SUFFIXES.sub(" ", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    key = " ".join(text.split())
    return key or None


def person_key(name: str | None) -> str | None:
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    key = " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
    return key or None
