"""Typed rows stay in step with the tables they are read from."""

from __future__ import annotations

from dataclasses import fields

import pytest

from drift_monitor.storage import rows
from drift_monitor.storage.tables import (
    Base,
    DaemonLease,
    FindingRow,
    Incident,
    IncidentEvent,
    Notification,
    OperatorAction,
    Silence,
    SlotClaim,
)

JOINED = {"target"}  # columns a query adds from another table


@pytest.mark.parametrize(("row", "table"), [(rows.IncidentRow, Incident),
                                            (rows.IncidentEventRow, IncidentEvent),
                                            (rows.NotificationRow, Notification),
                                            (rows.SilenceRow, Silence),
                                            (rows.OperatorActionRow, OperatorAction),
                                            (rows.FindingRecord, FindingRow),
                                            (rows.SlotClaimRow, SlotClaim),
                                            (rows.DaemonLeaseRow, DaemonLease)])
def test_a_row_has_exactly_its_tables_columns(row: type, table: type[Base]) -> None:
    columns = [c.name for c in table.__table__.columns]
    names = [f.name for f in fields(row) if f.name in columns or f.name not in JOINED]
    assert names == columns


def test_rows_are_frozen() -> None:
    from dataclasses import FrozenInstanceError
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = rows.IncidentRow(id=1, target_id=1, dimension="tone", status="open",
                           severity="warning", summary="s", finding_keys=[], notified_keys=[],
                           notified_severity=None, notified_channels=None, opened_at=now,
                           updated_at=now)
    with pytest.raises(FrozenInstanceError):
        row.status = "resolved"  # type: ignore[misc]
    assert rows.as_dict(row)["status"] == "open"
