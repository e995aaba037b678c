"""calendar engine: parse iCalendar feeds, expand recurrences in a bounded window, diff snapshots.

Pure domain code: no Redis, no bus. ``ics.parse_calendar`` checks and parses
a document, ``expand.expand`` turns it into occurrences keyed by
``(UID, recurrence id)`` with UTC times, ``diff.diff`` compares two such
snapshots. ``samples/`` holds small real-world-shaped feeds used by the tests.
"""
