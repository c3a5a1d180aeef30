"""How a rebuild splits the log among workers: by the last byte of each aggregate id."""

from __future__ import annotations

from collections.abc import Callable


def share(part: tuple[int, int] | None, last_byte: str, literal: Callable[[int], str]) -> str:
    """The SQL condition for part k of n: the aggregate ids whose last byte is in the k-th of
    n ranges of 0-255 (the parts are even: a message id ends in a mix of its number, any other
    id in a hash). ``last_byte`` is an expression that orders as the id's last byte does,
    ``literal`` a byte's value to compare it with."""
    if part is None:
        return ""
    k, n = part
    low, high = k * 256 // n, (k + 1) * 256 // n
    bounds = [f"{last_byte} >= {literal(low)}"] if low else []
    bounds += [f"{last_byte} < {literal(high)}"] if high < 256 else []
    return "".join(f"AND {bound} " for bound in bounds)
