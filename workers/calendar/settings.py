"""The calendar service's settings: AIWF_CALENDAR_* (sync window defaults and expansion limits)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from aiwf.bus.settings import Settings
from aiwf.workers.calendar.errors import CalendarError
from aiwf.workers.calendar.expand import ExpandOptions
from aiwf.workers.calendar.ics import MAX_ICS_BYTES
from aiwf.workers.calendar.zones import UnknownTzid

__all__ = ["CalendarSettings"]


class CalendarSettings(Settings):
    """The window around a sync request when it names none, and the bounds of one expansion."""

    past_days: int = Field(
        30,
        ge=0,
        validation_alias="AIWF_CALENDAR_PAST_DAYS",
        description="days before the request the default window starts",
    )
    future_days: int = Field(
        365,
        ge=1,
        validation_alias="AIWF_CALENDAR_FUTURE_DAYS",
        description="days after the request the default window ends (past + future <= 400)",
    )
    default_tz: str = Field(
        "UTC",
        min_length=1,
        validation_alias="AIWF_CALENDAR_DEFAULT_TZ",
        description="IANA zone for floating times and all-day dates",
    )
    max_ics_bytes: int = Field(
        MAX_ICS_BYTES,
        ge=1,
        validation_alias="AIWF_CALENDAR_MAX_ICS_BYTES",
        description="largest iCalendar document accepted",
    )
    max_occurrences: int = Field(
        10_000,
        ge=1,
        validation_alias="AIWF_CALENDAR_MAX_OCCURRENCES",
        description="most occurrences one sync may expand to",
    )
    max_seconds: float = Field(
        3.0, gt=0, validation_alias="AIWF_CALENDAR_MAX_SECONDS", description="wall-clock budget of one expansion"
    )
    unknown_tzid: UnknownTzid = Field(
        UnknownTzid.REJECT,
        validation_alias="AIWF_CALENDAR_UNKNOWN_TZID",
        description="an event whose TZID no VTIMEZONE of its document defines and "
        "no IANA zone names: reject it, read it as utc, or as floating local time",
    )
    snapshot_every: int = Field(
        200,
        ge=1,
        le=1_000_000,
        validation_alias="AIWF_CALENDAR_SNAPSHOT_EVERY",
        description="a calendar snapshot every N events",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.past_days + self.future_days > 400:
            raise ValueError("AIWF_CALENDAR_PAST_DAYS + AIWF_CALENDAR_FUTURE_DAYS must be at most 400 days")
        try:
            ExpandOptions(
                max_occurrences=self.max_occurrences, max_seconds=self.max_seconds, default_tz=self.default_tz
            )
        except CalendarError as exc:
            raise ValueError(f"AIWF_CALENDAR_* settings: {exc}") from None
        return self

    def options(self, default_tz: str | None) -> ExpandOptions:
        """The engine's limits, floating times read in `default_tz` (else the configured zone)."""
        return ExpandOptions(
            max_occurrences=self.max_occurrences,
            max_seconds=self.max_seconds,
            default_tz=default_tz or self.default_tz,
        )
