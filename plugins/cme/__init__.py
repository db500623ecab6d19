"""CME credit reporting: landing extracts -> DuckDB -> dbt marts -> body submissions."""
from pathlib import Path

__version__ = "0.1.0"

# The package is installed editable from plugins/cme, so the project root is two levels up.
PROJECT_DIR = Path(__file__).resolve().parents[2]


def executable(name: str) -> str:
    """A command installed beside this Python (the project's venv), else from PATH."""
    import sys

    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name
