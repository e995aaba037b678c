"""pip-audit over requirements.lock, honest about what it could check.

pip-audit exits 0 and says "No known vulnerabilities found" even when it could not look a
single package up (its vulnerability service unreachable, as on a machine whose PyPI mirror
has no JSON API). This reads its JSON report instead: any known vulnerability fails; packages
it could not audit are counted and named; with none audited at all the check is reported as
NOT done (exit 0, best effort) unless AIWF_AUDIT_STRICT=1, which makes that a failure too.

    .venv/bin/python tools/audit.py [requirements.lock]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def verdict(report: dict[str, Any], strict: bool) -> tuple[int, list[str]]:
    """(exit code, lines to print) for one pip-audit JSON report."""
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    lines = [
        f"audit: {d['name']} {d.get('version', '')}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or ['-'])})"
        for d in vulnerable
        for v in d["vulns"]
    ]
    if vulnerable:
        return 1, [*lines, f"audit: {len(vulnerable)} of {len(deps)} locked packages have known vulnerabilities"]
    if deps and audited == 0:
        why = skipped[0]["skip_reason"]
        lines.append(
            f"audit: NOT audited: pip-audit could not look up any of the {len(deps)} locked packages ({why}); "
            "its vulnerability service is unreachable from here"
        )
        return (1 if strict else 0), lines
    if skipped:
        lines.append(f"audit: {len(skipped)} packages not audited: {', '.join(d['name'] for d in skipped)}")
    lines.append(f"audit: {audited} locked packages audited, no known vulnerabilities")
    return 0, lines


def main() -> int:
    """Run pip-audit on the lock file and judge its report."""
    lock = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "requirements.lock"
    pip_audit = Path(sys.executable).parent / "pip-audit"
    command = [str(pip_audit), "-r", str(lock), "--require-hashes", "--disable-pip", "--progress-spinner", "off"]
    command += ["-f", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603 - own venv's tool

    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: NOT audited: pip-audit failed before reporting: {tail}", file=sys.stderr)
        return 1 if os.environ.get("AIWF_AUDIT_STRICT") == "1" else 0
    code, lines = verdict(report, os.environ.get("AIWF_AUDIT_STRICT") == "1")
    print("\n".join(lines), file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
