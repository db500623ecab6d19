"""Deterministic synthetic landing extracts: golden scenarios plus seeded bulk data."""
from cme.synthetic.generator import generate

__all__ = ["generate"]
