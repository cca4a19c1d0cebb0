"""Budget periods on UTC calendar boundaries: a day from 00:00, a week from Monday, a month from the 1st."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The one period of a "total" budget: it never resets.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def period_start(*, period: str, at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return EPOCH


def period_end(*, period: str, start: datetime) -> datetime | None:
    """When the period that began at `start` resets; None for a total budget."""
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    if period == "monthly":
        return (start + timedelta(days=32)).replace(day=1)
    return None
