"""Numbered schema migrations. The database's version is `PRAGMA user_version`:
the number of migrations applied. Append only; never edit a released step."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, their messages, tool calls, plans and everything a resume needs.
    """
    CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        title           TEXT NOT NULL,
        state           TEXT NOT NULL,
        current_agent   TEXT NOT NULL,
        switch_count    INTEGER NOT NULL DEFAULT 0,
        turn_id         TEXT,
        turn_steps      INTEGER NOT NULL DEFAULT 0,
        nudges          INTEGER NOT NULL DEFAULT 0,
        active_plan_id  TEXT,
        last_result     TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );
    CREATE INDEX sessions_updated ON sessions (updated_at DESC, id DESC);

    CREATE TABLE messages (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id       TEXT,
        role          TEXT NOT NULL,
        agent         TEXT,
        content       TEXT NOT NULL,
        tool_calls    TEXT,
        tool_call_id  TEXT,
        kind          TEXT NOT NULL DEFAULT 'message',
        segment       INTEGER NOT NULL,
        plan_id       TEXT,
        subtask_id    TEXT,
        attempt       INTEGER,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX messages_session ON messages (session_id, seq);

    CREATE TABLE tool_calls (
        call_id            TEXT PRIMARY KEY,
        session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id            TEXT NOT NULL,
        message_seq        INTEGER NOT NULL,
        name               TEXT NOT NULL,
        arguments          TEXT NOT NULL,
        status             TEXT NOT NULL,
        requires_approval  INTEGER NOT NULL,
        reason             TEXT,
        result_status      TEXT,
        plan_id            TEXT,
        subtask_id         TEXT,
        created_at         TEXT NOT NULL,
        answered_at        TEXT
    );
    CREATE INDEX tool_calls_pending ON tool_calls (session_id, status);

    CREATE TABLE approvals (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        call_id     TEXT NOT NULL,
        tool        TEXT NOT NULL,
        decided_by  TEXT NOT NULL,
        decision    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX approvals_session ON approvals (session_id, id);

    CREATE TABLE approval_rules (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        tool        TEXT NOT NULL,
        prefix      TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        PRIMARY KEY (session_id, tool, prefix)
    );

    CREATE TABLE transitions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id     TEXT,
        from_state  TEXT NOT NULL,
        to_state    TEXT NOT NULL,
        event       TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX transitions_session ON transitions (session_id, id);

    CREATE TABLE usage (
        session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        agent              TEXT NOT NULL,
        requests           INTEGER NOT NULL DEFAULT 0,
        prompt_tokens      INTEGER NOT NULL DEFAULT 0,
        completion_tokens  INTEGER NOT NULL DEFAULT 0,
        duration_ms        INTEGER NOT NULL DEFAULT 0,
        nudges             INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, agent)
    );

    CREATE TABLE classifications (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        text_hash   TEXT NOT NULL,
        answer      TEXT NOT NULL,
        PRIMARY KEY (session_id, text_hash)
    );

    CREATE TABLE plans (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        goal        TEXT NOT NULL,
        status      TEXT NOT NULL,
        feedback    TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX plans_session ON plans (session_id, version);

    CREATE TABLE subtasks (
        plan_id       TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
        id            TEXT NOT NULL,
        ord           INTEGER NOT NULL,
        title         TEXT NOT NULL,
        description   TEXT NOT NULL,
        agent         TEXT NOT NULL,
        dependencies  TEXT NOT NULL,
        status        TEXT NOT NULL,
        result        TEXT,
        attempt       INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (plan_id, id)
    );

    CREATE TABLE leases (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        holder      TEXT NOT NULL,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        expires_at  REAL NOT NULL
    );
    """,
    # 2: which workspace a session belongs to (NULL for sessions made before).
    """
    ALTER TABLE sessions ADD COLUMN workspace_root TEXT;
    CREATE INDEX sessions_workspace ON sessions (workspace_root, updated_at DESC, id DESC);
    """,
    # 3: the running state a pause (tool results, a question) returns to, stored when it
    # begins (NULL outside a pause, and for pauses begun before this column existed).
    """
    ALTER TABLE sessions ADD COLUMN resume_state TEXT;
    """,
    # 4: long tasks: compaction records on messages (`meta`), cached input tokens and cost
    # in usage (`unpriced` counts requests the price map did not know), usage per turn.
    """
    ALTER TABLE messages ADD COLUMN meta TEXT;
    ALTER TABLE usage ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE turn_usage (
        session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id            TEXT NOT NULL,
        requests           INTEGER NOT NULL DEFAULT 0,
        prompt_tokens      INTEGER NOT NULL DEFAULT 0,
        cached_tokens      INTEGER NOT NULL DEFAULT 0,
        completion_tokens  INTEGER NOT NULL DEFAULT 0,
        cost_usd           REAL NOT NULL DEFAULT 0,
        unpriced           INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, turn_id)
    );
    """,
    # 5: calls the sidecar runs itself (MCP tools): who executes a call, its MCP server,
    # whether the server called it read-only, when it was approved to run and when it
    # last started (a started call with no result was cut off: its effect is unknown),
    # and how often it started.
    """
    ALTER TABLE tool_calls ADD COLUMN executed_by TEXT NOT NULL DEFAULT 'client';
    ALTER TABLE tool_calls ADD COLUMN server TEXT;
    ALTER TABLE tool_calls ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tool_calls ADD COLUMN approved_at TEXT;
    ALTER TABLE tool_calls ADD COLUMN started_at TEXT;
    ALTER TABLE tool_calls ADD COLUMN starts INTEGER NOT NULL DEFAULT 0;
    """,
)
