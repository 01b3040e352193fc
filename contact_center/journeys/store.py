"""The journeys store: events, procedures and nudge records in SQL (SQLite file or PostgreSQL).

The tables live in their own :data:`metadata`, so the journeys package owns its schema. Timestamps are
stored as UTC epoch seconds (a float) because funnels and idle times are arithmetic on instants, and
that arithmetic is portable between SQLite and PostgreSQL where date functions are not.

Ingestion is idempotent on ``event_id`` (``INSERT ... ON CONFLICT DO NOTHING``) and commits batch by
batch, so a replayed or interrupted file never duplicates or loses what was stored.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from contact_center.errors import EventValidationError, JourneyError
from contact_center.journeys import duck
from contact_center.journeys.events import (
    EVENT_FIELDS,
    EventFormat,
    JourneyEvent,
    RejectedEvent,
    read_events,
    read_events_from_lines,
)
from contact_center.journeys.procedures import Procedure, ProcedureCatalog, parse_procedures

__all__ = [
    "JOURNEY_AGGREGATE",
    "STEP_AGGREGATE",
    "FlagCount",
    "IngestResult",
    "JourneyStore",
    "ProceduresUpdate",
    "metadata",
]

metadata = MetaData()

events_table = Table(
    "journey_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("journey_id", String(200), nullable=False),
    Column("citizen_ref", String(200)),
    Column("procedure", String(200), nullable=False),
    Column("step", String(200)),
    Column("type", String(20), nullable=False),
    Column("ts", Double, nullable=False),
    Column("channel", String(200)),
    Column("language", String(200)),
    Column("flag", String(20)),
    # One composite index serves funnels (by procedure), abandonment (grouped by procedure and journey)
    # and the re-check before a nudge (procedure and journey known); a second index would slow ingestion.
    Index("ix_journey_events_procedure_journey", "procedure", "journey_id"),
    # In SQLite the event_id key then *is* the table: one B-tree to update per event instead of two.
    sqlite_with_rowid=False,
)

procedures_table = Table(
    "journey_procedures",
    metadata,
    Column("slug", String(200), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("idle_seconds", Double, nullable=False),
    Column("step_count", Integer, nullable=False),
    Column("registered_at", Double, nullable=False),
)

steps_table = Table(
    "journey_steps",
    metadata,
    Column("procedure", String(200), primary_key=True),
    Column("step", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
)

nudges_table = Table(
    "journey_nudges",
    metadata,
    # One row per journey: the primary key is what makes "at most one nudge per journey" hold even
    # when two nudge runs overlap.
    Column("journey_id", String(200), primary_key=True),
    Column("procedure", String(200), nullable=False),
    Column("citizen_ref", String(200)),
    Column("step", String(200)),
    Column("status", String(20), nullable=False),
    Column("decided_at", Double, nullable=False),
    Column("sent_at", Double),
    Column("language", String(20)),
    Column("message_id", String(300)),
    Column("reply", Text),
    Index("ix_journey_nudges_citizen", "citizen_ref", "sent_at"),
)

# Per-journey and per-(journey, step) aggregates of the events, refreshed in SQL in the same transaction
# as each ingested batch (only for the journeys the batch touched). Funnels and abandonment read these
# instead of re-aggregating a million events; with an --as-of earlier than the newest stored event they
# aggregate the events themselves with the very same SQL (see :meth:`JourneyStore.relations`).
summary_table = Table(
    "journey_summary",
    metadata,
    Column("procedure", String(200), primary_key=True),
    Column("journey_id", String(200), primary_key=True),
    Column("citizen_ref", String(200)),
    Column("channel", String(200)),
    Column("language", String(200)),
    Column("started_at", Double, nullable=False),
    Column("last_ts", Double, nullable=False),
    Column("completed_at", Double),
    Column("is_completed", Integer, nullable=False),
    Column("is_ineligible", Integer, nullable=False),
    Column("is_cancelled", Integer, nullable=False),
    Column("furthest", Integer, nullable=False),
    Column("last_done", Integer, nullable=False),
    # Clustered on (procedure, journey_id) in SQLite: a funnel reads one procedure's rows contiguously.
    sqlite_with_rowid=False,
)

step_summary_table = Table(
    "journey_step_summary",
    metadata,
    Column("procedure", String(200), primary_key=True),
    Column("journey_id", String(200), primary_key=True),
    Column("pos", Integer, primary_key=True),
    Column("first_at", Double, nullable=False),
    Column("left_at", Double),
    Column("prev_left", Double),
    sqlite_with_rowid=False,
)

# Journeys whose summary is out of date, written in the same transaction as their events: a crash
# between a batch and the summary refresh leaves them listed here, and the next read refreshes them.
dirty_table = Table(
    "journey_dirty",
    metadata,
    Column("procedure", String(200), primary_key=True),
    Column("journey_id", String(200), primary_key=True),
)

_SUMMARY_COLUMNS = (
    "procedure, journey_id, citizen_ref, channel, language, started_at, last_ts, completed_at, "
    "is_completed, is_ineligible, is_cancelled, furthest, last_done"
)

# The one definition of a journey's state, used both to fill journey_summary and, for an --as-of in
# the past, directly over the events: both paths give the same numbers by construction.
JOURNEY_AGGREGATE = """
SELECT e.procedure AS procedure, e.journey_id AS journey_id,
    MAX(e.citizen_ref) AS citizen_ref,
    COALESCE(MAX(CASE WHEN e.type = 'started' THEN e.channel END), MIN(e.channel)) AS channel,
    COALESCE(MAX(CASE WHEN e.type = 'started' THEN e.language END), MIN(e.language)) AS language,
    MIN(e.ts) AS started_at,
    MAX(e.ts) AS last_ts,
    MIN(CASE WHEN e.type = 'completed' THEN e.ts END) AS completed_at,
    MAX(CASE WHEN e.type = 'completed' THEN 1 ELSE 0 END) AS is_completed,
    MAX(CASE WHEN e.type = 'ineligible' THEN 1 ELSE 0 END) AS is_ineligible,
    MAX(CASE WHEN e.type = 'cancelled' THEN 1 ELSE 0 END) AS is_cancelled,
    COALESCE(MAX(s.position), 1) AS furthest,
    COALESCE(MAX(CASE WHEN e.type IN ('step_completed', 'submitted', 'paid') THEN s.position END), 0) AS last_done
FROM {source}
LEFT JOIN journey_steps s ON s.procedure = e.procedure AND s.step = e.step
WHERE {where}
GROUP BY e.procedure, e.journey_id
"""

# prev_left (the previous step's completion) is part of the aggregate so a funnel need not re-sort
# every journey's steps to find it.
STEP_AGGREGATE = """
SELECT procedure, journey_id, pos, first_at, left_at,
    LAG(left_at) OVER (PARTITION BY procedure, journey_id ORDER BY pos) AS prev_left
FROM (
    SELECT e.procedure AS procedure, e.journey_id AS journey_id, s.position AS pos,
        MIN(e.ts) AS first_at,
        MIN(CASE WHEN e.type IN ('step_completed', 'submitted', 'paid') THEN e.ts END) AS left_at
    FROM {source}
    JOIN journey_steps s ON s.procedure = e.procedure AND s.step = e.step
    WHERE {where}
    GROUP BY e.procedure, e.journey_id, s.position
) step_rows
"""

# CROSS JOIN fixes the join order in SQLite: the few dirty journeys first, then their events through the
# (procedure, journey_id) index, rather than a scan of every event.
_DIRTY_SOURCE = "journey_dirty t CROSS JOIN journey_events e"

_EVENT_COLUMNS = (*EVENT_FIELDS, "flag")
_BATCH = 10000
_MAX_REJECTIONS_KEPT = 1000


class FlagCount(BaseModel):
    """Events stored but flagged: an unknown procedure, or a step the procedure does not have."""

    flag: str
    procedure: str
    step: str | None = None
    events: int


class IngestResult(BaseModel):
    """What an ingestion did. ``rejected`` keeps the first 1,000 rejections; ``rejected_count`` all."""

    read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = Field(default_factory=list)
    flagged: list[FlagCount] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no event was rejected."""
        return self.rejected_count == 0


class ProceduresUpdate(BaseModel):
    """What registering a procedures file changed."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the HTTP server ingest while the CLI reads funnels; NORMAL sync is durable across
    # application crashes, which is what "nothing stored is lost" needs.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


_LOCK_WAIT_SECONDS = 30.0


def _duckdb_connect(engine: Engine) -> Any:
    """A ``do_connect`` hook that waits while another process holds the DuckDB file, then says who does."""

    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        pause = 0.01
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:
                if not duck.is_lock_error(exc):
                    raise
                if time.monotonic() > deadline:
                    raise JourneyError(
                        f"the journeys store {engine.url.database} has been held by another process for "
                        f"{_LOCK_WAIT_SECONDS:.0f} s ({str(exc).splitlines()[0]}). DuckDB lets one process open it "
                        "at a time: wait for that process (a long ingestion?) to finish, or stop it."
                    ) from exc
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    return connect


class JourneyStore:
    """Journeys tables on one SQLAlchemy engine: DuckDB (the embedded default), SQLite or PostgreSQL.

    Example::

        store = JourneyStore(settings.journeys_url)
        store.register_procedures(load_procedures("procedures.yaml"))
        result = store.ingest_file("events.jsonl")
    """

    def __init__(self, url_or_engine: str | Engine) -> None:
        if isinstance(url_or_engine, str):
            for prefix in ("sqlite:///", "duckdb:///"):
                db_path = url_or_engine.removeprefix(prefix) if url_or_engine.startswith(prefix) else ""
                if db_path and db_path != ":memory:":
                    try:
                        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise JourneyError(
                            f"cannot create the directory for {db_path}: {exc.strerror}; set CC_DATA_DIR to a "
                            "writable directory"
                        ) from exc
            if url_or_engine.startswith("duckdb:"):
                # No pool: DuckDB lets one process at a time open the file, so a connection is opened per
                # operation and closed after it; another process (the events server, a nudge run) waits
                # for it in ``_duckdb_connect`` instead of failing.
                self.engine = create_engine(url_or_engine, poolclass=NullPool)
            else:
                self.engine = create_engine(url_or_engine)
        else:
            self.engine = url_or_engine
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if self.engine.dialect.name == "duckdb":
            event.listen(self.engine, "do_connect", _duckdb_connect(self.engine))
        # Serialises writers in this process. DuckDB needs it (idempotency is an anti-join, see duck.py);
        # elsewhere the database's own locks do the work and it only costs an uncontended acquire.
        self._write_lock = threading.RLock() if self.engine.dialect.name == "duckdb" else nullcontext()
        try:
            if self.engine.dialect.name == "duckdb":
                with self.engine.begin() as conn:
                    for ddl in duck.DDL:
                        conn.exec_driver_sql(ddl)
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise JourneyError(
                f"cannot open the journeys store at {self.engine.url!r}: {exc.__class__.__name__}: {exc}. "
                "Check CC_JOURNEYS__DATABASE_URL, CC_DATABASE_URL or CC_DATA_DIR."
            ) from exc

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the database open for a series of operations (several funnels, a nudge run).

        On DuckDB every operation otherwise opens and closes the file (about 20 ms), so that another
        process can use it in between; within a session this process holds it. Elsewhere it does nothing.
        """
        if self.dialect != "duckdb":
            yield
            return
        anchor = self.engine.raw_connection()
        try:
            yield
        finally:
            anchor.close()

    # -- procedures -------------------------------------------------------------------------------

    def register_procedures(self, catalog: ProcedureCatalog) -> ProceduresUpdate:
        """Store (or replace) the given procedures and re-flag stored events against them.

        Procedures already stored but absent from ``catalog`` are kept: their events still need them.
        """
        update = ProceduresUpdate()
        now = time.time()
        with self.begin() as conn:
            existing = {
                row.slug: row.definition
                for row in conn.execute(select(procedures_table.c.slug, procedures_table.c.definition))
            }
            for slug, proc in catalog.items():
                definition = json.dumps(proc.to_dict(), sort_keys=True, ensure_ascii=False)
                if existing.get(slug) == definition:
                    update.unchanged.append(slug)
                    continue
                (update.updated if slug in existing else update.added).append(slug)
                conn.execute(delete(procedures_table).where(procedures_table.c.slug == slug))
                conn.execute(delete(steps_table).where(steps_table.c.procedure == slug))
                conn.execute(
                    procedures_table.insert().values(
                        slug=slug,
                        definition=definition,
                        idle_seconds=float(proc.idle_seconds),
                        step_count=len(proc.steps),
                        registered_at=now,
                    )
                )
                conn.execute(
                    steps_table.insert(),
                    [
                        {"procedure": slug, "step": s, "position": i}
                        for i, s in enumerate(proc.steps, start=1)
                    ],
                )
            if update.added or update.updated:
                self._reflag(conn)
                # Step positions may have changed: every journey's aggregate is recomputed.
                self._refresh(conn, full=True)
                conn.execute(delete(dirty_table))
        return update

    def _reflag(self, conn: Connection) -> None:
        conn.execute(text("UPDATE journey_events SET flag = NULL WHERE flag IS NOT NULL"))
        conn.execute(
            text(
                "UPDATE journey_events SET flag = 'unknown_procedure' "
                "WHERE procedure NOT IN (SELECT slug FROM journey_procedures)"
            )
        )
        conn.execute(
            text(
                "UPDATE journey_events SET flag = 'unknown_step' WHERE flag IS NULL AND step IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM journey_steps s "
                "WHERE s.procedure = journey_events.procedure AND s.step = journey_events.step)"
            )
        )

    def catalog(self) -> ProcedureCatalog:
        """Every registered procedure."""
        with self.begin() as conn:
            rows = conn.execute(select(procedures_table.c.slug, procedures_table.c.definition)).all()
        if not rows:
            return ProcedureCatalog()
        data = {"procedures": {row.slug: json.loads(row.definition) for row in rows}}
        return parse_procedures(data, source="stored procedures")

    def procedure(self, slug: str) -> Procedure:
        """One registered procedure, or a ProceduresFileError naming the known ones."""
        return self.catalog().require(slug)

    # -- events -----------------------------------------------------------------------------------

    def _insert_sql(self) -> tuple[str, str]:
        """SQLite and PostgreSQL: the statements that insert a batch of events and mark their journeys dirty.

        Driver-level executemany with tuples: the ORM/Core per-row dict handling costs more than SQLite
        itself on million-event files. Both dialects accept ON CONFLICT DO NOTHING (DuckDB, whose event
        table has no key, goes through :func:`.duck.insert_events`).
        """
        if self.dialect == "sqlite":
            mark = "?"
        elif self.dialect == "postgresql":
            mark = "%s"
        else:
            raise JourneyError(
                f"the journeys store supports DuckDB, SQLite and PostgreSQL, not {self.dialect}"
            )
        columns = ", ".join(_EVENT_COLUMNS)
        marks = ", ".join([mark] * len(_EVENT_COLUMNS))
        return (
            f"INSERT INTO journey_events ({columns}) VALUES ({marks}) ON CONFLICT (event_id) DO NOTHING",
            f"INSERT INTO journey_dirty (procedure, journey_id) VALUES ({mark}, {mark}) "
            "ON CONFLICT (procedure, journey_id) DO NOTHING",
        )

    def ingest(self, items: Iterable[JourneyEvent | RejectedEvent]) -> IngestResult:
        """Store valid events (idempotently on ``event_id``) and report the rejected ones.

        Events naming an unknown procedure or step are stored with a flag and counted in
        ``result.flagged``, so they can be re-examined once the procedures file is fixed.
        """
        with self.session():
            return self._ingest(items)

    def _ingest(self, items: Iterable[JourneyEvent | RejectedEvent]) -> IngestResult:
        catalog = self.catalog()
        steps = {slug: frozenset(p.steps) for slug, p in catalog.items()}
        flags: Counter[tuple[str, str, str | None]] = Counter()
        duckdb = self.dialect == "duckdb"
        sql, dirty_sql = ("", "") if duckdb else self._insert_sql()
        batch: list[tuple[Any, ...]] = []
        rejected: list[dict[str, Any]] = []
        # Plain local counters: this loop runs once per event, and pydantic attribute writes are not free.
        read = rejected_count = 0
        added = [0]

        def flush() -> None:
            with self._write_lock, self.begin() as conn:
                if duckdb:
                    moved = duck.insert_events(conn, [row[:-1] for row in batch])
                    added[0] += moved.added
                    self._refresh_after(conn, moved)
                else:
                    cursor = conn.exec_driver_sql(sql, batch)
                    count = max(cursor.rowcount, 0)
                    added[0] += count
                    if count:
                        conn.exec_driver_sql(dirty_sql, list({(row[3], row[1]) for row in batch}))
            batch.clear()

        for item in items:
            read += 1
            if item.__class__ is RejectedEvent:
                assert isinstance(item, RejectedEvent)
                rejected_count += 1
                if len(rejected) < _MAX_REJECTIONS_KEPT:
                    rejected.append({"line": item.line, "reason": item.reason, "event_id": item.event_id})
                continue
            assert isinstance(item, JourneyEvent)
            known = steps.get(item.procedure)
            flag: str | None = None
            if known is None:
                flag = "unknown_procedure"
                flags[(flag, item.procedure, None)] += 1
            elif item.step is not None and item.step not in known:
                flag = "unknown_step"
                flags[(flag, item.procedure, item.step)] += 1
            batch.append(
                (
                    item.event_id,
                    item.journey_id,
                    item.citizen_ref,
                    item.procedure,
                    item.step,
                    item.type,
                    item.ts.timestamp(),
                    item.channel,
                    item.language,
                    flag,
                )
            )
            if len(batch) >= _BATCH:
                flush()
        if batch:
            flush()
        self.refresh_summaries()
        result = IngestResult(
            read=read,
            added=added[0],
            duplicates=read - rejected_count - added[0],
            rejected_count=rejected_count,
            rejected=rejected,
        )
        result.flagged = [
            FlagCount(flag=f, procedure=p, step=s, events=n)
            for (f, p, s), n in sorted(flags.items(), key=str)
        ]
        return result

    def ingest_file(self, path: str | Path, fmt: EventFormat | None = None) -> IngestResult:
        """Store the events of a JSON Lines or CSV file; the same result as ``ingest(read_events(path, fmt))``.

        On DuckDB a JSON Lines file is read and checked inside the engine (see :mod:`.duck`), the lines it
        accepts stored in one transaction; the lines its strict check does not accept then go through the
        Python parser, which stores them or rejects them with their line number. Elsewhere, and for CSV, the file is streamed
        through :func:`read_events`.
        """
        p = Path(path)
        chosen: EventFormat = fmt or ("csv" if p.suffix.lower() == ".csv" else "jsonl")
        if self.dialect != "duckdb" or chosen != "jsonl":
            return self.ingest(read_events(p, chosen))
        try:
            p.open("rb").close()
        except OSError as exc:
            raise EventValidationError(f"{p}: cannot read the events file: {exc.strerror or exc}") from exc
        try:
            return self._ingest_jsonl_in_duckdb(p)
        except SQLAlchemyError as exc:
            message = str(exc)
            if (
                "Invalid unicode" not in message
                and "UTF" not in message
                and "Maximum line size" not in message
            ):
                raise
            # Not UTF-8, or a line longer than DuckDB reads (2 MB: a JSON array written on one line): nothing
            # was stored, and the Python reader gives the message (and the line numbers) users know.
            return self.ingest(read_events(p, chosen))

    def _ingest_jsonl_in_duckdb(self, path: Path) -> IngestResult:
        staged = "journey_staged"
        with self._write_lock, self.begin() as conn:
            good, bad = duck.stage_jsonl(conn, path, staged)
            flags = Counter({(f, p, s): n for f, p, s, n in duck.staged_flags(conn, staged)})
            moved = duck.move_staged(conn, staged)
            # In the same transaction: events and their summaries are committed together.
            self._refresh_after(conn, moved)
            suspects = (
                {row[0] for row in conn.exec_driver_sql(f"SELECT raw FROM {staged} WHERE NOT ok")}
                if bad
                else set()
            )
            conn.exec_driver_sql(f"DROP TABLE {staged}")
        result = IngestResult()
        if suspects:
            # The few lines the SQL check did not accept, with their line numbers: the Python parser
            # decides (and words the rejections). A line read_csv split on a \x01 is found by that byte.
            with path.open(encoding="utf-8-sig") as handle:
                lines = (
                    line if line.rstrip("\r\n") in suspects or "\x01" in line else "\n" for line in handle
                )
                result = self.ingest(read_events_from_lines(lines))
        result.read += good
        result.added += moved.added
        result.duplicates = result.read - result.rejected_count - result.added
        for item in result.flagged:
            flags[(item.flag, item.procedure, item.step)] += item.events
        result.flagged = [
            FlagCount(flag=f, procedure=p, step=s, events=n)
            for (f, p, s), n in sorted(flags.items(), key=str)
        ]
        return result

    def _refresh_after(self, conn: Connection, moved: duck.Moved) -> None:
        """DuckDB: bring the summaries up to date after a move of events, in the caller's transaction."""
        if not moved.added:
            return
        self._refresh(conn, full=moved.rebuild_all)
        conn.execute(delete(dirty_table))

    def refresh_summaries(self) -> int:
        """Bring the per-journey summaries up to date with the stored events; returns journeys refreshed.

        Ingestion calls it after its last batch and every report calls it before reading, so it is
        only needed directly after writing events by other means.
        """
        with self._write_lock, self.begin() as conn:
            dirty = int(conn.execute(text("SELECT COUNT(*) FROM journey_dirty")).scalar_one())
            if not dirty:
                return 0
            total = int(conn.execute(text("SELECT COUNT(*) FROM journey_summary")).scalar_one())
            self._refresh(conn, full=duck.rebuilds(dirty, total))
            conn.execute(delete(dirty_table))
        return dirty

    def _refresh(self, conn: Connection, *, full: bool) -> None:
        if self.dialect == "postgresql":
            # Two ingesting processes must not rebuild the same journey's rows at once.
            conn.execute(text("LOCK TABLE journey_summary IN SHARE ROW EXCLUSIVE MODE"))
        if full:
            conn.execute(delete(summary_table))
            conn.execute(delete(step_summary_table))
            source, where = "journey_events e", "1 = 1"
        else:
            for table in ("journey_summary", "journey_step_summary"):
                conn.execute(
                    text(
                        f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM journey_dirty t "
                        f"WHERE t.procedure = {table}.procedure AND t.journey_id = {table}.journey_id)"
                    )
                )
            source, where = _DIRTY_SOURCE, "e.procedure = t.procedure AND e.journey_id = t.journey_id"
        conn.execute(
            text(
                f"INSERT INTO journey_summary ({_SUMMARY_COLUMNS}) "
                + JOURNEY_AGGREGATE.format(source=source, where=where)
            )
        )
        conn.execute(
            text(
                "INSERT INTO journey_step_summary (procedure, journey_id, pos, first_at, left_at, prev_left) "
                + STEP_AGGREGATE.format(source=source, where=where)
            )
        )

    def relations(
        self, as_of: float, procedure: str | None = None, *, within: bool = False
    ) -> tuple[str, str]:
        """SQL for the journey and the step aggregates as of ``as_of``: the summary tables when no stored
        event is later than ``as_of``, else the same aggregates computed over the events up to ``as_of``.

        With ``within``, only each journey's events up to ``:within`` seconds after its first event count
        (a funnel's conversion window): the aggregates are then always computed over the events.
        The returned SQL expects the bound parameters ``:as_of`` (``:procedure`` when given, ``:within``).
        """
        self.refresh_summaries()
        if not within:
            where = "journey_summary.procedure = :procedure" if procedure else "1 = 1"
            with self.begin() as conn:
                newest = conn.execute(
                    text(f"SELECT MAX(last_ts) FROM journey_summary WHERE {where}"), {"procedure": procedure}
                ).scalar_one()
            if newest is None or float(newest) <= as_of:
                return "journey_summary", "journey_step_summary"
        source = "journey_events e"
        event_where = "e.ts <= :as_of" + (" AND e.procedure = :procedure" if procedure else "")
        if within:
            # The journey's first event is its summary's started_at (every event is summarised).
            source += " JOIN journey_summary w ON w.procedure = e.procedure AND w.journey_id = e.journey_id"
            event_where += " AND e.ts <= w.started_at + :within"
        return (
            "(" + JOURNEY_AGGREGATE.format(source=source, where=event_where) + ")",
            "(" + STEP_AGGREGATE.format(source=source, where=event_where) + ")",
        )

    def flagged(self) -> list[FlagCount]:
        """Every stored event flagged as naming an unknown procedure or step, counted."""
        with self.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT flag, procedure, CASE WHEN flag = 'unknown_step' THEN step END AS step, COUNT(*) AS n "
                    "FROM journey_events WHERE flag IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                )
            ).all()
        return [FlagCount(flag=r.flag, procedure=r.procedure, step=r.step, events=r.n) for r in rows]

    def count_events(self) -> int:
        """How many events are stored."""
        with self.begin() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM journey_events")).scalar_one())
