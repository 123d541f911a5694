"""`nsbox exec` (see cli/containers.py)."""

from .containers import main_for

main = main_for("exec")
