"""calendar: parse iCalendar feeds, expand recurrences in a bounded window, keep each calendar in the event store.

The service, in the order one sync request walks it: ``service`` (the subscriptions), ``runtime``
(settings and the deps the lifespan builds), ``sync`` (the handler), ``aggregate`` (what a
calendar holds), ``occurrences`` (the events a sync decides), ``agenda`` (the projection and its
query), ``history`` (how recent syncs ended, for the CLI).

The engine is pure domain code, no Redis and no bus: ``ics.parse_calendar`` checks and parses a
document, ``expand.expand`` turns it into occurrences keyed by ``(UID, recurrence id)`` with UTC
times, ``diff.diff`` compares two such snapshots. ``samples/`` holds small real-world-shaped
feeds used by the tests.
"""
