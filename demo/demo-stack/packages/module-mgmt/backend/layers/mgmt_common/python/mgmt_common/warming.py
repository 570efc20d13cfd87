"""Validation of the Lambda warming settings (which functions to keep warm, how often)."""

import re

WARMING_TABLE = "lambda_warming_config"

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


def validate_warming_config(body, known_functions):
    """Return the normalised config; raise ValueError with a user-facing message."""
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise ValueError("enabled must be true or false")
    schedule = body.get("schedule", "rate(5 minutes)")
    if not isinstance(schedule, str) or not _RATE.match(schedule):
        raise ValueError("schedule must look like 'rate(5 minutes)'")
    functions = body.get("functions", [])
    if not isinstance(functions, list):
        raise ValueError("functions must be a list of function names")
    unknown = sorted(set(functions) - set(known_functions))
    if unknown:
        raise ValueError(f"unknown functions: {', '.join(unknown)}")
    return {"enabled": enabled, "schedule": schedule, "functions": sorted(set(functions))}
