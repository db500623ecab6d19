"""Reporting bodies. Each module in this package exposes BODIES, a list of Body.

Adding a body is adding a module here, its rows in the body_fields seed, its
reporting mart and its suites in expectations/: nothing else names it.
"""
from __future__ import annotations

import importlib
import pkgutil

from cme.bodies.base import Body
from cme.settings import ProviderSettings


def all_bodies() -> dict[str, Body]:
    found: dict[str, Body] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in ("base",):
            continue
        for body in getattr(importlib.import_module(f"{__name__}.{module.name}"), "BODIES", []):
            found[body.name] = body
    return found


def active_bodies(settings: ProviderSettings) -> list[Body]:
    return [b for name, b in sorted(all_bodies().items()) if b.is_active(settings)]
