"""The compliance dashboard (`cme dashboard`): read-only pages over the marts."""
