"""Demand aggregated back to institutions: ranked reports stored as snapshots, the weekly
digest to liaisons, CSV/JSON export, and the public accountability figures.

On PostgreSQL the ranking reads the items' running totals (`demand.totals`) and the signals
are scanned once, for the breakdowns, trend and daily series (`_collect_postgres`); the
portable path groups the signals themselves, item by item (SQLite, and the reference the
tests hold the fast path to). Published breakdowns go through `demand.suppression`.
"""

from __future__ import annotations

import bisect
import csv
import io
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import holidays
from flask_babel import LazyString
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, insert, select, text, update

from core.choices import SECTOR_LABELS
from core.extensions import db
from core.models import Institution, User
from core.timeutil import to_zone, utcnow
from core.urls import external_url
from demand.deadlines import is_working_day
from demand.labels import INTENDED_USE_LABELS, SOURCE_LABELS, STATUS_LABELS
from demand.models import (
    DemandAnswer,
    DemandItem,
    DemandReport,
    DemandSignal,
    DemandStatus,
    NonWorkingDay,
    SignalSource,
)
from demand.suppression import DEFAULT_THRESHOLD, suppress
from notifications.models import Category
from notifications.services import notify

RANKED_ITEMS = 100
DAILY_DAYS = 30
DIMENSIONS = ("sector", "state", "intended_use")
NOT_STATED = "not_stated"
SOURCES = [s.value for s in SignalSource]
SUPPORTER_SOURCES = (SignalSource.request.value, SignalSource.support.value)
DIGEST_WEEKDAY = 0  # Monday, in the liaison's zone
DIGEST_HOUR = 8


def _windows(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    return {
        "last_7": (now - timedelta(days=7), now),
        "previous_7": (now - timedelta(days=14), now - timedelta(days=7)),
        "last_30": (now - timedelta(days=30), now),
        "previous_30": (now - timedelta(days=60), now - timedelta(days=30)),
    }


def _weight_when(condition) -> Any:
    return func.coalesce(func.sum(case((condition, DemandSignal.weight), else_=0)), 0)


def _per_item(now: datetime, institution_id: int | None) -> list[Any]:
    """One row per item with signals: sums by source and by trend window."""
    columns = [
        DemandItem.institution_id,
        DemandItem.id.label("item_id"),
        func.sum(DemandSignal.weight).label("total"),
        *[_weight_when(DemandSignal.source == source).label(source) for source in SOURCES],
        *[
            _weight_when(and_(DemandSignal.created_at >= start, DemandSignal.created_at < end)).label(name)
            for name, (start, end) in _windows(now).items()
        ],
    ]
    query = (
        select(*columns)
        .join(DemandItem, DemandItem.id == DemandSignal.item_id)
        .where(DemandItem.status != DemandStatus.merged)
        .group_by(DemandItem.institution_id, DemandItem.id)
    )
    if institution_id is not None:
        query = query.where(DemandItem.institution_id == institution_id)
    return list(db.session.execute(query))


def _breakdowns(institution_id: int | None) -> dict[int, dict[str, dict[str, int]]]:
    """Signal weight per institution by sector, state and intended use ("not_stated" if none)."""
    result: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: {d: {} for d in DIMENSIONS})
    where = "i.status <> 'merged'" + (" AND i.institution_id = :inst" if institution_id is not None else "")
    params = {"inst": institution_id} if institution_id is not None else {}
    if db.engine.dialect.name == "postgresql":
        sql = text(
            "SELECT i.institution_id, s.sector, s.state, s.intended_use, "
            "GROUPING(s.sector) AS g_sector, GROUPING(s.state) AS g_state, "
            "GROUPING(s.intended_use) AS g_use, SUM(s.weight) AS total "
            "FROM demand_signal s JOIN demand_item i ON i.id = s.item_id "
            f"WHERE {where} "
            "GROUP BY GROUPING SETS ((i.institution_id, s.sector), (i.institution_id, s.state), "
            "(i.institution_id, s.intended_use))"
        )
        for row in db.session.execute(sql, params):
            if not row.g_sector:
                dimension, value = "sector", row.sector
            elif not row.g_state:
                dimension, value = "state", row.state
            else:
                dimension, value = "intended_use", row.intended_use
            result[row.institution_id][dimension][value or NOT_STATED] = int(row.total)
        return result
    for dimension in DIMENSIONS:
        sql = text(
            f"SELECT i.institution_id, s.{dimension} AS value, SUM(s.weight) AS total "
            "FROM demand_signal s JOIN demand_item i ON i.id = s.item_id "
            f"WHERE {where} GROUP BY i.institution_id, s.{dimension}"
        )
        for row in db.session.execute(sql, params):
            result[row.institution_id][dimension][row.value or NOT_STATED] = int(row.total)
    return result


def _unique_supporters(institution_id: int | None) -> dict[int, int]:
    query = (
        select(DemandSignal.institution_id, func.count(func.distinct(DemandSignal.user_id)))
        .where(DemandSignal.source.in_(SUPPORTER_SOURCES), DemandSignal.user_id.is_not(None))
        .group_by(DemandSignal.institution_id)
    )
    if institution_id is not None:
        query = query.where(DemandSignal.institution_id == institution_id)
    return {inst: int(count) for inst, count in db.session.execute(query)}


def _daily_span(now: datetime) -> tuple[datetime, datetime]:
    """The 30 days of the daily series (UTC), today included: [first midnight, next midnight)."""
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return midnight - timedelta(days=DAILY_DAYS - 1), midnight + timedelta(days=1)


def _daily(now: datetime, institution_id: int | None) -> dict[int, dict[str, int]]:
    day = func.date(DemandSignal.created_at)
    first, last = _daily_span(now)
    query = (
        select(DemandItem.institution_id, day.label("day"), func.sum(DemandSignal.weight))
        .join(DemandItem, DemandItem.id == DemandSignal.item_id)
        .where(
            DemandSignal.created_at >= first,
            DemandSignal.created_at < last,
            DemandItem.status != DemandStatus.merged,
        )
        .group_by(DemandItem.institution_id, day)
    )
    if institution_id is not None:
        query = query.where(DemandItem.institution_id == institution_id)
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for inst, day_value, total in db.session.execute(query):
        result[inst][str(day_value)[:10]] = int(total)
    return result


class Collected:
    """What the aggregation found, before it becomes report documents."""

    def __init__(self, now: datetime):
        windows = list(_windows(now))
        self.ranked: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.totals: dict[int, dict[str, int]] = defaultdict(
            lambda: {"total": 0, **dict.fromkeys(SOURCES, 0)}
        )
        self.trend: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(windows, 0))
        self.breakdowns: dict[int, dict[str, dict[str, int]]] = defaultdict(
            lambda: {d: {} for d in DIMENSIONS}
        )
        self.daily: dict[int, dict[str, int]] = defaultdict(dict)
        self.supporters: dict[int, int] = {}
        # Title, kind, status, supporters and due date of ranked items, when already read.
        self.details: dict[int, Any] = {}


def _item_entry(row: Any, windows: list[str]) -> dict[str, Any]:
    return {
        "id": row.item_id,
        "total": int(row.total),
        "signals": {source: int(getattr(row, source) or 0) for source in SOURCES},
        "trend": {name: int(getattr(row, name) or 0) for name in windows},
    }


def _collect_portable(now: datetime, institution_id: int | None) -> Collected:
    """Several plain GROUP BYs and a ranking in Python (SQLite, the tests' database)."""
    found = Collected(now)
    windows = list(_windows(now))
    for row in _per_item(now, institution_id):
        inst = row.institution_id
        bucket = found.totals[inst]
        bucket["total"] += int(row.total)
        for source in SOURCES:
            bucket[source] += int(getattr(row, source))
        for name in windows:
            found.trend[inst][name] += int(getattr(row, name))
        found.ranked[inst].append(_item_entry(row, windows))
    for rows in found.ranked.values():
        rows.sort(key=lambda r: (-r["total"], -r["id"]))
        del rows[RANKED_ITEMS:]
    found.breakdowns.update(_breakdowns(institution_id))
    found.supporters = _unique_supporters(institution_id)
    found.daily.update(_daily(now, institution_id))
    return found


def _buckets(now: datetime) -> tuple[list[datetime], dict[int, tuple[list[str], str | None]]]:
    """Time cut into consecutive intervals at every edge of a trend window and every midnight of
    the daily series: the bounds, and for each interval (by index) the windows it lies in and
    its day. Summing intervals gives every window and every day exactly."""
    windows = _windows(now)
    first, last = _daily_span(now)
    midnights = {first + timedelta(days=offset) for offset in range(DAILY_DAYS + 1)}
    bounds = sorted({edge for window in windows.values() for edge in window} | midnights)
    inside = {}
    for index, (low, high) in enumerate(pairwise(bounds)):
        names = [name for name, (start, end) in windows.items() if start <= low and high <= end]
        inside[index] = (names, low.date().isoformat() if first <= low < last else None)
    return bounds, inside


def _bucket_sql(bounds: list[datetime], params: dict[str, Any]) -> str:
    """A CASE naming the interval of `bounds` a signal's date falls in (NULL outside them),
    nested as a binary search so each signal costs a handful of comparisons."""
    for index, bound in enumerate(bounds):
        params[f"bound_{index}"] = bound

    def search(low: int, high: int) -> str:
        if low == high:
            return str(low)
        middle = (low + high + 1) // 2
        above, below = search(middle, high), search(low, middle - 1)
        return f"CASE WHEN s.created_at >= :bound_{middle} THEN {above} ELSE {below} END"

    last = len(bounds) - 1
    return (
        f"CASE WHEN s.created_at < :bound_0 OR s.created_at >= :bound_{last} THEN NULL "
        f"ELSE {search(0, last - 1)} END"
    )


def _collect_postgres(now: datetime, institution_id: int | None) -> Collected:
    """Each item keeps running totals of its signals (`demand.totals`), so the ranking reads the
    top of an index per institution instead of grouping every signal by item. The signals are
    read once, for what only they know: one scan with GROUPING SETS gives the breakdowns (one
    group per institution, sector, state and use, rolled up here), the days, and the sums per
    source and trend interval; the ranked items' trend comes from their own signals by index;
    unique supporters from a partial index alone."""
    found = Collected(now)
    bounds, inside = _buckets(now)
    params: dict[str, Any] = {}
    bucket = _bucket_sql(bounds, params)
    # Merged items hold no signals (a merge moves or drops them), but they stay out all the same;
    # a partial index lists them.
    where = "s.item_id NOT IN (SELECT id FROM demand_item WHERE status = 'merged')"
    if institution_id is not None:
        where += " AND s.institution_id = :inst"
        params["inst"] = institution_id
    figures = text(
        f"""
        SELECT s.institution_id, s.sector, s.state, s.intended_use, s.source, {bucket} AS bucket,
               GROUPING(s.sector) AS g_profile, SUM(s.weight) AS total
        FROM demand_signal s
        WHERE {where}
        GROUP BY GROUPING SETS (
            (s.institution_id, s.sector, s.state, s.intended_use),
            (s.institution_id, s.source, {bucket})
        )
        """
    )
    # Big statements: JIT compilation costs more than it saves here, and the grouping should
    # stay in memory. SET LOCAL ends with this transaction.
    db.session.execute(text("SET LOCAL jit = off"))
    db.session.execute(text("SET LOCAL work_mem = '256MB'"))
    for row in db.session.execute(figures, params):
        inst, total = row.institution_id, int(row.total)
        if row.g_profile == 0:
            cells = found.breakdowns[inst]
            for dimension in DIMENSIONS:
                key = getattr(row, dimension) or NOT_STATED
                cells[dimension][key] = cells[dimension].get(key, 0) + total
            continue
        sums = found.totals[inst]
        sums["total"] += total
        sums[row.source] += total
        if row.bucket is not None:
            names, day = inside[row.bucket]
            for name in names:
                found.trend[inst][name] += total
            if day is not None:
                found.daily[inst][day] = found.daily[inst].get(day, 0) + total
    _rank_by_totals(found, now, institution_id, bucket, inside, params)
    supporters = (
        "SELECT institution_id, count(*) AS n FROM (SELECT DISTINCT s.institution_id, s.user_id "
        "FROM demand_signal s WHERE s.source IN ('request', 'support') AND s.user_id IS NOT NULL"
        + (" AND s.institution_id = :inst" if institution_id is not None else "")
        + ") people GROUP BY institution_id"
    )
    found.supporters = {
        row.institution_id: int(row.n) for row in db.session.execute(text(supporters), params)
    }
    return found


def _rank_by_totals(
    found: Collected,
    now: datetime,
    institution_id: int | None,
    bucket: str,
    inside: dict[int, tuple[list[str], str | None]],
    params: dict[str, Any],
) -> None:
    """Each institution's top items from its items' running totals (an index read from the top:
    total, then newest first, as a full sort ranks ties), then their trend from their signals."""
    totals_columns = ", ".join(f"d.signals_{source}" for source in SOURCES)
    ranking = text(
        f"""
        SELECT r.* FROM institution i CROSS JOIN LATERAL (
            SELECT d.institution_id, d.id, d.title, d.kind, d.status, d.supporters_count, d.due_on,
                   d.signals_total, {totals_columns}
            FROM demand_item d
            WHERE d.institution_id = i.id AND d.signals_total > 0 AND d.status <> 'merged'
            ORDER BY d.signals_total DESC, d.id DESC LIMIT {RANKED_ITEMS}
        ) r
        {"WHERE i.id = :inst" if institution_id is not None else ""}
        """
    )
    names = list(_windows(now))
    entries: dict[int, dict[str, Any]] = {}
    for row in db.session.execute(ranking, params):
        found.details[row.id] = row
        entry = {
            "id": row.id,
            "total": int(row.signals_total),
            "signals": {source: int(getattr(row, f"signals_{source}")) for source in SOURCES},
            "trend": dict.fromkeys(names, 0),
        }
        entries[row.id] = entry
        found.ranked[row.institution_id].append(entry)
    ids = list(entries)
    trend = text(
        f"SELECT s.item_id, {bucket} AS bucket, SUM(s.weight) AS total FROM demand_signal s "
        "WHERE s.item_id = ANY(:ids) AND s.created_at >= :bound_0 GROUP BY s.item_id, bucket"
    )
    bound_params = {key: value for key, value in params.items() if key.startswith("bound_")}
    for chunk in range(0, len(ids), 5000):
        for row in db.session.execute(trend, {**bound_params, "ids": ids[chunk : chunk + 5000]}):
            if row.bucket is not None:
                for name in inside[row.bucket][0]:
                    entries[row.item_id]["trend"][name] += int(row.total)
    for rows in found.ranked.values():
        rows.sort(key=lambda r: (-r["total"], -r["id"]))


def aggregate(institution_id: int | None = None, now: datetime | None = None) -> dict[int, dict[str, Any]]:
    """The report data of one institution (or of all), keyed by institution id."""
    now = now or utcnow()
    if db.engine.dialect.name == "postgresql":
        found = _collect_postgres(now, institution_id)
    else:
        found = _collect_portable(now, institution_id)
    item_ids = [
        entry["id"] for rows in found.ranked.values() for entry in rows if entry["id"] not in found.details
    ]
    details = dict(found.details)
    for chunk in range(0, len(item_ids), 5000):
        for item in db.session.execute(
            select(
                DemandItem.id,
                DemandItem.title,
                DemandItem.kind,
                DemandItem.status,
                DemandItem.supporters_count,
                DemandItem.due_on,
            ).where(DemandItem.id.in_(item_ids[chunk : chunk + 5000]))
        ):
            details[item.id] = item
    institutions = (
        [institution_id]
        if institution_id is not None
        else list(db.session.execute(select(Institution.id)).scalars())
    )
    today = now.date()
    days = [(today - timedelta(days=offset)).isoformat() for offset in range(DAILY_DAYS - 1, -1, -1)]
    empty_totals = {"total": 0, **dict.fromkeys(SOURCES, 0)}
    reports: dict[int, dict[str, Any]] = {}
    for inst in institutions:
        items = []
        for rank, entry in enumerate(found.ranked.get(inst, []), start=1):
            item = details[entry["id"]]
            items.append(
                {
                    "rank": rank,
                    "id": entry["id"],
                    "title": item.title,
                    "kind": str(item.kind),
                    "status": str(item.status),
                    "supporters": int(item.supporters_count),
                    "signals": entry["signals"],
                    "total": entry["total"],
                    "trend": entry["trend"],
                    "due_on": item.due_on.isoformat(),
                }
            )
        totals = found.totals.get(inst, empty_totals)
        raw = found.breakdowns.get(inst, {d: {} for d in DIMENSIONS})
        reports[inst] = {
            "computed_at": now.isoformat(),
            "threshold": DEFAULT_THRESHOLD,
            "supporters": found.supporters.get(inst, 0),
            "signals": {source: totals[source] for source in SOURCES},
            "total": totals["total"],
            "trend": dict(found.trend[inst]) if inst in found.trend else dict.fromkeys(_windows(now), 0),
            "daily": [{"date": day, "signals": found.daily.get(inst, {}).get(day, 0)} for day in days],
            "items": items,
            "breakdowns": {dimension: suppress(raw[dimension]).as_dict() for dimension in DIMENSIONS},
        }
    return reports


def _store_all(reports: dict[int, dict[str, Any]], now: datetime) -> None:
    """Write the snapshots: one UPDATE batch for the existing ones, one INSERT for new ones."""
    existing = set(
        db.session.execute(
            select(DemandReport.institution_id).where(DemandReport.institution_id.in_(list(reports)))
        ).scalars()
    )
    rows = [{"institution_id": inst, "computed_at": now, "data": data} for inst, data in reports.items()]
    updates = [row for row in rows if row["institution_id"] in existing]
    inserts = [row for row in rows if row["institution_id"] not in existing]
    if updates:
        db.session.execute(update(DemandReport), updates)
    if inserts:
        db.session.execute(insert(DemandReport), inserts)


def compute_report(institution_id: int) -> DemandReport | None:
    """Recompute and store one institution's snapshot."""
    if db.session.get(Institution, institution_id) is None:
        return None
    now = utcnow()
    _store_all(aggregate(institution_id, now), now)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(DemandReport, institution_id)


def compute_all() -> int:
    """Recompute every institution's snapshot in one pass over the signals (hourly)."""
    now = utcnow()
    reports = aggregate(None, now)
    _store_all(reports, now)
    db.session.commit()
    return len(reports)


def latest_report(institution_id: int) -> DemandReport | None:
    return db.session.get(DemandReport, institution_id)


# --- labels, export -------------------------------------------------------------------------------


def cell_label(dimension: str, value: str) -> str:
    """The human name of a breakdown cell."""
    if value == NOT_STATED:
        return _("Sin dato")
    if dimension == "sector":
        return str(SECTOR_LABELS.get(value, value))
    if dimension == "intended_use":
        return str(INTENDED_USE_LABELS.get(value, value))
    return value


def source_label(source: str) -> str:
    return str(SOURCE_LABELS.get(source, source))


def report_csv(data: dict[str, Any]) -> str:
    """The ranked items of a snapshot as CSV (formula-safe cells)."""
    from core.exports import csv_safe

    output = io.StringIO()
    writer = csv.writer(output)
    header = [
        "rank",
        "id",
        "title",
        "kind",
        "status",
        "supporters",
        *SOURCES,
        "total",
        "last_7",
        "previous_7",
        "last_30",
        "previous_30",
        "due_on",
    ]
    writer.writerow(header)
    for item in data.get("items", []):
        writer.writerow(
            [
                csv_safe(value)
                for value in [
                    item["rank"],
                    item["id"],
                    item["title"],
                    item["kind"],
                    item["status"],
                    item["supporters"],
                    *[item["signals"][s] for s in SOURCES],
                    item["total"],
                    item["trend"]["last_7"],
                    item["trend"]["previous_7"],
                    item["trend"]["last_30"],
                    item["trend"]["previous_30"],
                    item["due_on"],
                ]
            ]
        )
    for dimension in DIMENSIONS:
        table = data.get("breakdowns", {}).get(dimension)
        if not table:
            continue
        writer.writerow([])
        writer.writerow([csv_safe(dimension), "count"])
        for key, value in table["cells"].items():
            writer.writerow(
                [csv_safe(key), f"<{data.get('threshold', DEFAULT_THRESHOLD)}" if value is None else value]
            )
    return output.getvalue()


# --- weekly digest to liaisons ----------------------------------------------------------------------


def send_weekly_digests(now: datetime | None = None) -> int:
    """On Monday morning (each liaison's zone), the week's demand of their institution, once."""
    now = now or utcnow()
    sent = 0
    from core.choices import InstitutionRole
    from core.models import Membership

    rows = db.session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role == InstitutionRole.liaison, User.deleted_at.is_(None))
    ).all()
    for membership, user in rows:
        local = to_zone(now, user.timezone or "America/Mexico_City")
        if local.weekday() != DIGEST_WEEKDAY or local.hour < DIGEST_HOUR:
            continue
        report = latest_report(membership.institution_id)
        if report is None:
            continue
        institution = membership.institution
        week = local.strftime("%G-W%V")
        data = report.data
        name = institution.acronym or institution.name
        subject = LazyString(lambda name=name: _("Demanda de datos de la semana: %(name)s", name=name))
        notify(
            to=user,
            kind="demand.weekly_digest",
            subject=subject,
            template="demand/email/weekly",
            dedupe_key=f"demand:weekly:{institution.id}:{week}:{user.id}",
            context={
                "institution_name": institution.display_name,
                "week": week,
                "supporters": data.get("supporters", 0),
                "trend": data.get("trend", {}),
                "items": data.get("items", [])[:10],
                "overdue": accountability(institution)["overdue"],
                "report_url": external_url("demand.dashboard", slug=institution.slug),
            },
            category=Category.institution,
            link=f"/institutions/{institution.slug}/demand/report",
            summary=subject,
        )
        sent += 1
    db.session.commit()
    return sent


# --- accountability ----------------------------------------------------------------------------------


class WorkingCalendar:
    """Working days over a range, computed once (federal holidays plus admin days)."""

    def __init__(self, first: date, last: date):
        extra = set(db.session.execute(select(NonWorkingDay.day)).scalars())
        federal = holidays.country_holidays("MX", years=range(first.year, last.year + 1))
        self.days: list[date] = []
        current = first
        while current <= last:
            if is_working_day(current, extra, federal):
                self.days.append(current)
            current += timedelta(days=1)

    def between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        if end <= start:
            return 0
        return bisect.bisect_right(self.days, end) - bisect.bisect_right(self.days, start)


def _local_date(value: datetime, zone: str) -> date:
    return to_zone(value, zone).date()


def accountability_for(institutions: list[Institution]) -> dict[int, dict[str, Any]]:
    """The public figures of each institution (live, from the items and answers)."""
    ids = [inst.id for inst in institutions]
    zones = {inst.id: inst.timezone for inst in institutions}
    figures = {
        inst.id: {"received": 0, "answered": 0, "on_time": 0, "due_passed": 0, "overdue": 0, "days": []}
        for inst in institutions
    }
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            DemandItem.institution_id,
            DemandItem.status,
            DemandItem.created_at,
            DemandItem.due_on,
            DemandAnswer.answered_at,
            DemandAnswer.answered_on_time,
            DemandAnswer.committed_on,
        )
        .outerjoin(DemandAnswer, DemandAnswer.item_id == DemandItem.id)
        .where(DemandItem.institution_id.in_(ids), DemandItem.status != DemandStatus.merged)
    ).all()
    now = utcnow()
    if rows:
        first = min(r.created_at for r in rows).date() - timedelta(days=2)
        calendar = WorkingCalendar(first, now.date() + timedelta(days=2))
    for row in rows:
        zone = zones[row.institution_id]
        today = _local_date(now, zone)
        f = figures[row.institution_id]
        f["received"] += 1
        if row.answered_at is not None:
            f["answered"] += 1
            f["due_passed"] += 1
            f["on_time"] += 1 if row.answered_on_time else 0
            f["days"].append(
                calendar.between(_local_date(row.created_at, zone), _local_date(row.answered_at, zone))
            )
        elif row.due_on < today:
            f["due_passed"] += 1
        status = DemandStatus(row.status)
        waiting = status in (DemandStatus.received, DemandStatus.under_review) and row.due_on < today
        late = status == DemandStatus.scheduled and row.committed_on and row.committed_on < today
        if waiting or late:
            f["overdue"] += 1
    result = {}
    for inst_id, f in figures.items():
        result[inst_id] = {
            "received": f["received"],
            "answered": f["answered"],
            "response_rate": round(f["answered"] / f["received"], 3) if f["received"] else None,
            "median_working_days_to_answer": statistics.median(f["days"]) if f["days"] else None,
            "within_deadline_rate": round(f["on_time"] / f["due_passed"], 3) if f["due_passed"] else None,
            "overdue": f["overdue"],
        }
    return result


def accountability(institution: Institution) -> dict[str, Any]:
    """`{"received", "answered", "response_rate", "median_working_days_to_answer",
    "within_deadline_rate", "overdue"}` of one institution."""
    return accountability_for([institution])[institution.id]


def national_comparison() -> list[tuple[Institution, dict[str, Any]]]:
    """Every institution with its figures, most requests received first."""
    institutions = list(db.session.execute(select(Institution).order_by(Institution.name)).scalars())
    figures = accountability_for(institutions)
    rows = [(inst, figures[inst.id]) for inst in institutions]
    rows.sort(key=lambda pair: (-pair[1]["received"], pair[0].name))
    return rows


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))
