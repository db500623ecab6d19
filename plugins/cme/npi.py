"""NPI check digit: Luhn over the prefix 80840 plus the first nine digits."""
from __future__ import annotations


def _luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # rightmost payload digit is doubled (check digit is appended after)
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def check_digit(first_nine: str) -> str:
    return str((10 - _luhn_sum("80840" + first_nine) % 10) % 10)


def is_valid_npi(npi: str | None) -> bool:
    return bool(npi) and len(npi) == 10 and npi.isdigit() and check_digit(npi[:9]) == npi[9]


def make_npi(first_nine: str) -> str:
    return first_nine + check_digit(first_nine)
