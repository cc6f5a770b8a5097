"""Cron expressions, read by APScheduler: the stack settings check them, the backup service runs them."""

from __future__ import annotations

from datetime import UTC

from apscheduler.triggers.cron import CronTrigger

METRICS_PORT = 9187
"""Where the backup service serves its Prometheus metrics (``/metrics``), inside its container."""


def cron_trigger(expression: str) -> CronTrigger:
    """A standard five-field cron expression (minute hour day month weekday), in UTC.

    Days of the week by name only (``sun``, ``mon-fri``): APScheduler numbers them from Monday (0),
    cron from Sunday, so a digit there would run on another day than the one meant (seen: ``0 4 * *
    0`` fires on Mondays). Raises ValueError with the reason.
    """
    fields = expression.split()
    if len(fields) == 5 and any(ch.isdigit() for ch in fields[4]):
        raise ValueError(
            f"{expression!r}: name the days of the week (sun, mon-fri): a number there means another "
            "day to APScheduler (0 is Monday) than to cron (0 is Sunday)"
        )
    return CronTrigger.from_crontab(expression, timezone=UTC)
