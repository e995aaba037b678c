"""The bug report of one incident, in Markdown: ready to paste into an issue tracker.

Everything shown goes through the masking of `aiwf dlq show` (dlq/show.py): the envelope
and payload with `Secret` fields masked, sealed tokens masked in the message and traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from aiwf.bus.alerts import Alert
from aiwf.dlq.incidents import Incident
from aiwf.dlq.show import describe


def markdown(incident: Incident, times_replayed: int, max_bytes: int) -> str:
    """The report: what failed, how often, since when, the sample envelope, the traceback, how to replay."""
    fp, sample = incident.fingerprint, incident.sample
    doc = describe(sample, times_replayed, max_bytes)
    types = ", ".join(f"`{t}`" for t in incident.event_types)
    lines = [
        f"# {fp.error_type} in {fp.service} handling {', '.join(incident.event_types)}",
        "",
        f"Incident `{incident.id}`: {incident.count} dead letter{'s' if incident.count != 1 else ''} "
        f"from {incident.first.failed_at} to {sample.failed_at}.",
        "",
        "| | |",
        "|---|---|",
        f"| service (consumer group) | `{fp.service}` |",
        f"| event types | {types} |",
        f"| error type | `{fp.error_type}` |",
        f"| failing frame | `{_cell(fp.frame)}` |",
        f"| dead letters | {incident.count} |",
        f"| first seen | {incident.first.failed_at} |",
        f"| last seen | {sample.failed_at} |",
        f"| streams | {', '.join(f'`{d}`' for d in incident.domains)} |",
        f"| sample letter | `{sample.ref}` (deliveries: {sample.deliveries}, consumer: `{sample.consumer}`) |",
        "",
        "## Error (sample)",
        "",
        _fence(doc["error"]),
        "",
        "## Sample envelope (secrets masked)",
        "",
        _fence(_envelope(doc), "json"),
        "",
        "## Traceback",
        "",
        _fence(doc["traceback"] or "(none)"),
        "",
        "## How to replay",
        "",
        "Once the fix is deployed, replay every letter of this incident (a dry run first); the",
        "incident is resolved when none of its letters is left. Purge instead to drop them.",
        "",
        _fence(
            f".venv/bin/aiwf dlq replay --incident {incident.id} --dry-run\n"
            f".venv/bin/aiwf dlq replay --incident {incident.id} --yes\n"
            f".venv/bin/aiwf dlq purge --incident {incident.id} --yes",
            "sh",
        ),
        "",
    ]
    return "\n".join(lines)


def alert_markdown(alert: Alert, incident_id: str) -> str:
    """The report of a firing alert: what fires, since when, why, and where to look."""
    since = datetime.fromtimestamp(alert.since, UTC).isoformat()
    where = f"`{alert.service}`" + (f" (worker `{alert.instance}`)" if alert.instance else "")
    return "\n".join(
        [
            f"# {alert.name} firing for {where}",
            "",
            f"Incident `{incident_id}`: alert `{alert.id}`, severity {alert.severity}, firing since {since}.",
            "",
            "## Why",
            "",
            _fence(alert.why),
            "",
            "## Where to look",
            "",
            _fence(
                ".venv/bin/aiwf health\n"
                ".venv/bin/aiwf alerts\n"
                f".venv/bin/aiwf logs --service {alert.service or 'SERVICE'} --level warning --since 15m\n"
                ".venv/bin/aiwf incidents",
                "sh",
            ),
            "",
            "The incident resolves when the alert stops firing (see `aiwf alerts` for the rule).",
            "",
        ]
    )


def _envelope(doc: dict[str, Any]) -> str:
    if doc["envelope"] is None:
        value: dict[str, Any] = {"body_error": doc["body_error"], "raw_body": doc["raw_body"]}
    else:
        value = {**doc["envelope"], "payload": doc["payload"]}
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def _fence(text: str, lang: str = "") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")
