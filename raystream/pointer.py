"""Row keys as users see them (``pw.Pointer`` values, printed like ``^X1MXHYY...``)."""

from __future__ import annotations

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Pointer(int):
    """A row key: an unsigned 64-bit integer with Pathway-like printing."""

    def __repr__(self) -> str:
        value, digits = int(self), []
        for _ in range(13):
            digits.append(_ALPHABET[value & 31])
            value >>= 5
        return "^" + "".join(digits)

    __str__ = __repr__
