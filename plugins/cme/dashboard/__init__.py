"""The compliance dashboard (`cme dashboard`): read-only pages over the marts."""

DEFAULT_PORT = 8050
