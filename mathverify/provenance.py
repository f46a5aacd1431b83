"""What made an output: the settings of each stage, stamped into every record it writes.

Each stage that writes records (generate, label, score, search, ...) describes itself with a
:class:`Provenance`: the stage's name and the settings that shape its output (policy, scorer
and scorer format, grading mode, sampling settings, seed), plus the mathverify version. The
:class:`~mathverify.records.RecordWriter` stamps it into each record's
``meta["provenance"][stage]``, so a record keeps the provenance of every stage it went
through (a scored, labeled solution names its policy, its labeler and its scorer).

On ``--resume`` the writer compares the settings stored with the partial file to the new
ones and refuses a mismatch, naming the field: rows drawn with other settings are never
appended to old ones. Settings that only choose *which* rows to write (``--limit``,
``--shard``) or where (paths of outputs) do not belong in a provenance.

Not for: run timing or machine details (those vary between identical runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mathverify import __version__
from mathverify.errors import MathverifyError

PROVENANCE_KEY = "provenance"


def _plain(value: Any) -> Any:
    """``value`` as JSON would store it (tuples become lists), for a faithful comparison."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


@dataclass(frozen=True)
class Provenance:
    """One stage's settings. ``settings`` hold only what shapes the stage's output."""

    stage: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain({**self.settings, "mathverify_version": __version__})

    def stamp(self, meta: dict[str, Any]) -> None:
        """Add this stage's settings to ``meta["provenance"]`` (other stages' entries kept)."""
        stages = dict(meta.get(PROVENANCE_KEY) or {})
        stages[self.stage] = self.to_dict()
        meta[PROVENANCE_KEY] = stages

    def check_resume(self, meta: dict[str, Any], where: str) -> None:
        """Refuse to resume a file whose record (``meta``, at ``where``) has other settings."""
        stored = (meta.get(PROVENANCE_KEY) or {}).get(self.stage)
        if stored is None:
            raise MathverifyError(
                f"{where}: cannot resume: the record has no {self.stage} settings to compare "
                "(written by another stage or an older mathverify); start anew without --resume"
            )
        new = self.to_dict()
        for name in sorted(set(stored) | set(new)):
            old_value, new_value = stored.get(name, "<unset>"), new.get(name, "<unset>")
            if old_value != new_value:
                raise MathverifyError(
                    f"{where}: cannot resume: {self.stage} setting {name!r} was "
                    f"{old_value!r} in the partial file and is {new_value!r} now; rerun with "
                    "the same settings, or start anew without --resume"
                )


def stage_provenance(meta: dict[str, Any], stage: str) -> dict[str, Any] | None:
    """The settings ``stage`` stamped into a record's ``meta``, or ``None``."""
    return (meta.get(PROVENANCE_KEY) or {}).get(stage)


def collect(metas: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The distinct provenances of many records, per stage (for a report's JSON)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for meta in metas:
        for stage, settings in (meta.get(PROVENANCE_KEY) or {}).items():
            seen = out.setdefault(stage, [])
            if settings not in seen:
                seen.append(settings)
    return out
