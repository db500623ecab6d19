"""Reporting bodies. Each module in this package exposes BODIES, a list of bodies that
satisfy `ReportingBody` (usually `Body` instances).

Adding a body is adding a module here, its rows in the body_fields seed, its
reporting mart and its suites in expectations/: the gates, the export and HTTP
delivery read what the body declares and never name it.
"""
from __future__ import annotations

import importlib
import pkgutil

from cme.bodies.base import ReportingBody
from cme.settings import ProviderSettings


def all_bodies() -> dict[str, ReportingBody]:
    found: dict[str, ReportingBody] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in ("base",):
            continue
        for body in getattr(importlib.import_module(f"{__name__}.{module.name}"), "BODIES", []):
            if not isinstance(body, ReportingBody):
                raise TypeError(f"cme.bodies.{module.name}: {body!r} lacks what a ReportingBody provides")
            found[body.name] = body
    return found


def active_bodies(settings: ProviderSettings) -> list[ReportingBody]:
    return [b for name, b in sorted(all_bodies().items()) if b.is_active(settings)]
