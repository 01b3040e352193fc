"""DuckDB specifics of the journeys store: its tables, bulk inserts, and JSON Lines read inside the engine.

DuckDB is the embedded default for journeys because funnels and abandonment are analytical queries
over millions of events: it scans columns in parallel, and it parses a JSON Lines file in C++ where
Python's ``json`` and ``datetime`` would cost microseconds per event. The SQL of the funnels is the
same on DuckDB, SQLite and PostgreSQL; what differs lives here:

- the event and summary tables have no primary key and no secondary index. DuckDB's scans need
  neither, and maintaining an ART index over a million event ids would triple the cost of ingestion.
  Idempotency is an anti-join on ``event_id`` done under the store's write lock (DuckDB lets one
  process at a time open the file, so a lock in the process is enough);
- rows go in as column lists unnested in one statement: DuckDB's ``executemany`` runs one statement
  per row;
- :func:`stage_jsonl` reads a JSON Lines file with ``read_csv`` (one column per line) and checks every
  rule of :func:`~contact_center.journeys.events.parse_event` in SQL. The check is strict: a line it does
  not accept (a timestamp written another valid way, a missing field...) is handed back to the Python
  parser, which accepts it or rejects it with its line number and the same reason as everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection

from contact_center.journeys.events import EVENT_FIELDS, EVENT_TYPES, MAX_EPOCH, MIN_EPOCH

__all__ = ["DDL", "Moved", "insert_events", "is_lock_error", "move_staged", "stage_jsonl", "staged_flags"]

# Created before ``metadata.create_all``, which then skips these tables (it checks for existence).
DDL = (
    """CREATE TABLE IF NOT EXISTS journey_events (
        event_id VARCHAR NOT NULL, journey_id VARCHAR NOT NULL, citizen_ref VARCHAR, procedure VARCHAR NOT NULL,
        step VARCHAR, type VARCHAR NOT NULL, ts DOUBLE NOT NULL, channel VARCHAR, language VARCHAR, flag VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS journey_summary (
        procedure VARCHAR NOT NULL, journey_id VARCHAR NOT NULL, citizen_ref VARCHAR, channel VARCHAR,
        language VARCHAR, started_at DOUBLE NOT NULL, last_ts DOUBLE NOT NULL, completed_at DOUBLE,
        is_completed INTEGER NOT NULL, is_ineligible INTEGER NOT NULL, is_cancelled INTEGER NOT NULL,
        furthest INTEGER NOT NULL, last_done INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS journey_step_summary (
        procedure VARCHAR NOT NULL, journey_id VARCHAR NOT NULL, pos INTEGER NOT NULL, first_at DOUBLE NOT NULL,
        left_at DOUBLE, prev_left DOUBLE)""",
)

_STAGE_COLUMNS = ", ".join(f"{name} VARCHAR" for name in EVENT_FIELDS if name != "ts") + ", ts DOUBLE"
_BATCH_TABLE = "journey_batch"

# The flag of an event against the registered procedures: ``b`` the event, ``p`` and ``s`` its procedure and
# step left-joined.
_FLAG = """CASE
    WHEN p.slug IS NULL THEN 'unknown_procedure'
    WHEN b.step IS NOT NULL AND s.step IS NULL THEN 'unknown_step'
END"""
_FLAG_JOINS = (
    "LEFT JOIN journey_procedures p ON p.slug = b.procedure "
    "LEFT JOIN journey_steps s ON s.procedure = b.procedure AND s.step = b.step"
)

_COLUMNS = ", ".join(EVENT_FIELDS)
# Above this share of new events, one pass over all events beats per-journey summary updates.
FULL_REBUILD_SHARE = 0.25


def is_lock_error(exc: BaseException) -> bool:
    """True for DuckDB's refusal to open a file another process holds."""
    return "Could not set lock on file" in str(exc) or "Conflicting lock is held" in str(exc)


class Moved(NamedTuple):
    """What a move into ``journey_events`` did, and how the summaries are to catch up."""

    added: int
    rebuild_all: bool
    """The new events are a large share of the store: every summary is rebuilt (their journeys were not
    listed in ``journey_dirty``)."""


def _move_new(conn: Connection, source: str) -> Moved:
    """Insert the rows of ``source`` whose event_id is not stored yet (one per event_id).

    When they are a large share of the store, the caller rebuilds every summary in the same transaction
    (see ``JourneyStore._refresh_after``); otherwise their journeys are listed in ``journey_dirty``.
    """
    before = int(conn.exec_driver_sql("SELECT COUNT(*) FROM journey_events").scalar_one())
    rows, distinct = conn.exec_driver_sql(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {source}").one()
    if rows != distinct:
        # The same event twice in one input: one of them is stored, the same one on every run.
        conn.exec_driver_sql(
            f"CREATE OR REPLACE TEMP TABLE {source}_once AS SELECT * FROM {source} "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts, type, journey_id) = 1"
        )
        source = f"{source}_once"
    conn.exec_driver_sql(
        f"INSERT INTO journey_events ({_COLUMNS}, flag) "
        f"SELECT {', '.join('b.' + c for c in EVENT_FIELDS)}, {_FLAG} "
        f"FROM {source} b "
        f"{_FLAG_JOINS} "
        + (
            "WHERE NOT EXISTS (SELECT 1 FROM journey_events e WHERE e.event_id = b.event_id)"
            if before
            else ""
        )
    )
    after = int(conn.exec_driver_sql("SELECT COUNT(*) FROM journey_events").scalar_one())
    rebuild_all = rebuilds(after - before, after)
    if after > before and not rebuild_all:
        conn.exec_driver_sql(
            "INSERT INTO journey_dirty (procedure, journey_id) "
            f"SELECT DISTINCT procedure, journey_id FROM {source} "
            "ON CONFLICT (procedure, journey_id) DO NOTHING"
        )
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {source.removesuffix('_once')}_once")
    return Moved(after - before, rebuild_all)


def rebuilds(added: int, total: int) -> bool:
    """Whether adding ``added`` events to a store of ``total`` rebuilds every summary instead of some."""
    return added >= FULL_REBUILD_SHARE * max(total, 1)


def insert_events(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> Moved:
    """Store rows of ``EVENT_FIELDS`` values (``ts`` as epoch seconds) not stored yet.

    The caller holds the store's write lock and a transaction.
    """
    if not rows:
        return Moved(0, rebuild_all=False)
    conn.exec_driver_sql(f"CREATE OR REPLACE TEMP TABLE {_BATCH_TABLE} ({_STAGE_COLUMNS})")
    columns = [list(col) for col in zip(*rows, strict=True)]
    selects = ", ".join(
        f"UNNEST(?::{'DOUBLE' if name == 'ts' else 'VARCHAR'}[]) AS {name}" for name in EVENT_FIELDS
    )
    conn.exec_driver_sql(f"INSERT INTO {_BATCH_TABLE} ({_COLUMNS}) SELECT {selects}", tuple(columns))
    moved = _move_new(conn, _BATCH_TABLE)
    conn.exec_driver_sql(f"DROP TABLE {_BATCH_TABLE}")
    return moved


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


_TYPES = ", ".join(f"'{t}'" for t in sorted(EVENT_TYPES))
_SHAPE = "{" + ", ".join(f'"{name}": "VARCHAR"' for name in EVENT_FIELDS) + "}"
_TS_PATTERN = r"\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
# DuckDB's JSON reader takes a trailing comma before the closing brace; Python's ``json`` does not. Inside a
# JSON string this can only match a comma then a brace: such a line is merely handed to the Python parser.
# So is a line with an escaped control character (\n, \u0007...; DuckDB refuses them unescaped, but for
# DEL) which the parser refuses in any value; an escaped backslash before an 'n' is a false alarm, merely
# handed over too. The second pattern runs only on the rare lines with a backslash: that keeps its cost off
# the scan.
_SUSPECT = (
    r"regexp_matches(raw, ',\s*}') OR (contains(raw, '\') AND regexp_matches(raw, '\\[nrtbf]|\\u00[01]|\\u007[fF]'))"
    " OR contains(raw, chr(127))"
)
_CHECKS = " AND ".join(
    [
        # A control character \x01 cannot appear in valid JSON; read_csv split such a line on it.
        "extra IS NULL",
        "j IS NOT NULL",
        "NOT suspect",
        # Every value a string: not a number, true, null, an object... nor NaN or inf, which DuckDB reads.
        "list_bool_and(list_transform(kinds, lambda k: k = 'VARCHAR'))",
        # As many values as known fields with a value: no unknown field, no key twice (those lines are left
        # to the parser: JSON readers disagree on which duplicate wins).
        "len(kinds) = " + " + ".join(f"(j.{name} IS NOT NULL)::INTEGER" for name in EVENT_FIELDS),
        *(f"strlen({f}) BETWEEN 1 AND 200" for f in ("event_id", "journey_id", "procedure")),
        *(f"COALESCE(strlen({f}), 0) <= 200" for f in ("citizen_ref", "step", "channel", "language")),
        f"type IN ({_TYPES})",
        "(step IS NOT NULL OR type NOT IN ('step_viewed', 'step_completed'))",
        f"regexp_full_match(j.ts, '{_TS_PATTERN}')",
        "ts IS NOT NULL",
        # Outside years 1-9999 in UTC: the Python parser rejects it.
        f"ts BETWEEN {MIN_EPOCH} AND {MAX_EPOCH}",
    ]
)


def stage_jsonl(conn: Connection, path: Path, table: str) -> tuple[int, int]:
    """Read ``path`` into the temp table ``table`` (the event columns, ``ok`` and ``raw``).

    ``ok`` rows passed every check, with the values :func:`parse_event` gives; the others keep their
    ``raw`` line for the Python parser (which also skips blank lines). Returns (ok rows, other rows).
    """
    lines = (
        f"read_csv({_quoted(path)}, columns = {{'raw': 'VARCHAR', 'extra': 'VARCHAR'}}, delim = '\\x01', "
        "quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, "
        "null_padding = true, encoding = 'utf-8')"
    )
    # Row order does not matter here (line numbers come from the Python pass): let the scan run in parallel.
    conn.exec_driver_sql("SET preserve_insertion_order = false")
    conn.exec_driver_sql(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT {_COLUMNS}, ok, CASE WHEN ok THEN NULL ELSE raw END AS raw FROM (
            SELECT *, COALESCE({_CHECKS}, false) AS ok FROM (
                SELECT raw, extra, j, kinds, suspect, j.event_id AS event_id, j.journey_id AS journey_id,
                    NULLIF(j.citizen_ref, '') AS citizen_ref, j.procedure AS procedure, NULLIF(j.step, '') AS step,
                    j.type AS type, epoch(TRY_CAST(j.ts AS TIMESTAMPTZ)) AS ts, NULLIF(j.channel, '') AS channel,
                    lower(NULLIF(j.language, '')) AS language
                FROM (
                    -- TRY: NULL for a line that is not JSON, without a separate validity pass.
                    SELECT raw, extra,
                        CASE WHEN starts_with(raw, '{{') THEN TRY(from_json(raw, '{_SHAPE}')) END AS j,
                        -- The JSON type of every top-level value, duplicates included, in one pass.
                        CASE WHEN starts_with(raw, '{{') THEN TRY(json_type(raw, '$.*')) END AS kinds,
                        ({_SUSPECT}) AS suspect
                    FROM {lines}
                    WHERE raw IS NOT NULL
                )
            )
        )"""
    )
    good, bad = conn.exec_driver_sql(
        f"SELECT COUNT(*) FILTER (WHERE ok), COUNT(*) FILTER (WHERE NOT ok) FROM {table}"
    ).one()
    return int(good), int(bad)


def move_staged(conn: Connection, table: str) -> Moved:
    """Store the ``ok`` rows of a staged table not stored yet."""
    conn.exec_driver_sql(f"CREATE OR REPLACE TEMP VIEW {table}_ok AS SELECT {_COLUMNS} FROM {table} WHERE ok")
    try:
        return _move_new(conn, f"{table}_ok")
    finally:
        conn.exec_driver_sql(f"DROP VIEW {table}_ok")


def staged_flags(conn: Connection, table: str) -> list[tuple[str, str, str | None, int]]:
    """(flag, procedure, step, events) over the ``ok`` rows of a staged table, as ``ingest`` reports them."""
    rows = conn.exec_driver_sql(
        f"SELECT flag, procedure, CASE WHEN flag = 'unknown_step' THEN step END AS step, COUNT(*) AS n "
        f"FROM (SELECT b.procedure, b.step, {_FLAG} AS flag FROM {table} b {_FLAG_JOINS} WHERE b.ok) "
        "WHERE flag IS NOT NULL GROUP BY 1, 2, 3"
    ).all()
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]
