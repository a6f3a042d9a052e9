"""The states a job record goes through, and the exit code each final one gives the CLI. Its own
module: clients of the orchestrator read states without loading the job store (SQLite)."""

from __future__ import annotations

RUNNING, SUCCEEDED, PARTIAL, ERROR, CANCELLED, INTERRUPTED = (
    "running",
    "succeeded",
    "partial",
    "error",
    "cancelled",
    "interrupted",
)
FINAL = {SUCCEEDED: 0, PARTIAL: 1, ERROR: 2, CANCELLED: 2, INTERRUPTED: 2}  # state -> exit code
