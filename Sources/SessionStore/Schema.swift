import GRDB

/// The database schema, as a list of versioned migrations.
///
/// Rules for whoever adds `v2`:
/// - Never edit a registered migration: databases in the field already ran it. Append a new one
///   (`migrator.registerMigration("v2") { db in ... }`) to `migrator` below.
/// - Keep each migration self-contained SQL: no reference to Swift types whose shape may change
///   (the v1 state list is spelled out for that reason).
/// - SQLite cannot alter a CHECK constraint or a column type; such a change rebuilds the table
///   (create `session_new`, copy, drop, rename, recreate the indexes) inside the migration. GRDB
///   runs migrations with foreign key checks deferred, so rebuilding is safe.
/// - `DatabaseMigrator` records applied identifiers in `grdb_migrations`; a store refuses a
///   database that has identifiers it does not know (written by a newer daemon).
enum Schema {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1", migrate: v1)
        migrator.registerMigration("v2-workspaces", migrate: v2Workspaces)
        migrator.registerMigration("v3-pool", migrate: v3Pool)
        migrator.registerMigration("v4-workspace-projects", migrate: v4WorkspaceProjects)
        migrator.registerMigration("v5-state-checks", migrate: v5StateChecks)
        return migrator
    }()

    /// The identifier of the newest migration this build knows.
    static var currentVersion: String { migrator.migrations.last ?? "" }

    /// Sessions, the event log and the readiness heartbeat.
    ///
    /// Tables are STRICT (SQLite >= 3.37; Debian 12 ships 3.40): a value of the wrong type is an
    /// error instead of being stored as whatever it was. Timestamps are unix milliseconds. JSON
    /// columns are checked with `json_valid` and their top-level type.
    ///
    /// `event.sessionID` is deliberately not a foreign key: the log is append-only history and
    /// must outlive any session row it mentions, and daemon-wide events have no session.
    /// `AUTOINCREMENT` keeps the largest id ever issued in `sqlite_sequence`, so ids are never
    /// reused even after the newest events are pruned; SSE clients resume on them.
    static func v1(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE session (
                    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
                    labels TEXT NOT NULL DEFAULT '{}'
                        CHECK (CASE WHEN json_valid(labels) THEN json_type(labels) = 'object' ELSE 0 END),
                    owner TEXT NOT NULL,
                    profile TEXT NOT NULL,
                    image TEXT NOT NULL,
                    command TEXT NOT NULL
                        CHECK (CASE WHEN json_valid(command) THEN json_type(command) = 'array' ELSE 0 END),
                    env TEXT NOT NULL DEFAULT '[]'
                        CHECK (CASE WHEN json_valid(env) THEN json_type(env) = 'array' ELSE 0 END),
                    workspace TEXT NOT NULL,
                    workspaceUID INTEGER NOT NULL CHECK (workspaceUID >= 0),
                    containerName TEXT NOT NULL UNIQUE,
                    containerID TEXT,
                    state TEXT NOT NULL CHECK (state IN
                        ('creating', 'starting', 'running', 'stopping', 'exited', 'removed', 'failed')),
                    exitCode INTEGER,
                    exitReason TEXT,
                    error TEXT,
                    requestHash TEXT NOT NULL,
                    daemonInstance TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    startedAt INTEGER,
                    finishedAt INTEGER,
                    lastActivityAt INTEGER NOT NULL,
                    ttlSeconds INTEGER CHECK (ttlSeconds > 0),
                    idleTimeoutSeconds INTEGER CHECK (idleTimeoutSeconds > 0),
                    poolSlot TEXT
                ) STRICT;
                CREATE INDEX session_state ON session(state);
                CREATE UNIQUE INDEX session_containerID ON session(containerID) WHERE containerID IS NOT NULL;
                CREATE INDEX session_created ON session(createdAt, id);

                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    sessionID TEXT,
                    type TEXT NOT NULL CHECK (length(type) > 0),
                    time INTEGER NOT NULL,
                    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
                ) STRICT;
                CREATE INDEX event_session ON event(sessionID, id);
                CREATE INDEX event_time ON event(time);
                -- Append-only: rows are never changed. (Retention deletes whole rows.)
                CREATE TRIGGER event_append_only BEFORE UPDATE ON event
                BEGIN
                    SELECT RAISE(ABORT, 'the event log is append-only');
                END;

                -- One row, rewritten by readiness checks to prove the store takes writes.
                CREATE TABLE heartbeat (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    at INTEGER NOT NULL,
                    daemonInstance TEXT NOT NULL
                ) STRICT;
                """)
    }

    /// Each workspace's own uid, kept for as long as the workspace exists, so its files stay
    /// writable across sessions and no two workspaces share one (sandboxes sharing a uid share
    /// per-user kernel limits).
    static func v2Workspaces(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE workspace (
                    name TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
                    uid INTEGER NOT NULL UNIQUE CHECK (uid > 0),
                    createdAt INTEGER NOT NULL
                ) STRICT;
                INSERT OR IGNORE INTO workspace (name, uid, createdAt)
                    SELECT workspace, workspaceUID, min(createdAt) FROM session
                    WHERE workspaceUID > 0 GROUP BY workspace;
                """)
    }

    /// The warm pool: its slots (one pre-started container each, and the host directory bound
    /// into it), and the pool targets set through the admin API.
    ///
    /// `sessionID` is UNIQUE: a slot serves at most one session, and a session claims at most one
    /// slot, whatever races. A claimed slot's row stays until its session is removed.
    static func v3Pool(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE pool_slot (
                    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
                    profile TEXT NOT NULL,
                    image TEXT NOT NULL,
                    containerName TEXT NOT NULL UNIQUE,
                    containerID TEXT UNIQUE,
                    directory TEXT NOT NULL UNIQUE,
                    state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'claimed')),
                    sessionID TEXT UNIQUE,
                    daemonInstance TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    claimedAt INTEGER,
                    CHECK ((state = 'claimed') = (sessionID IS NOT NULL))
                ) STRICT;
                CREATE INDEX pool_slot_ready ON pool_slot(profile, image, state, createdAt);

                CREATE TABLE pool_target (
                    profile TEXT NOT NULL PRIMARY KEY,
                    image TEXT NOT NULL,
                    size INTEGER NOT NULL CHECK (size >= 0),
                    refillPerMinute INTEGER NOT NULL CHECK (refillPerMinute > 0),
                    updatedAt INTEGER NOT NULL
                ) STRICT;
                """)
    }

    /// Each workspace's project-quota id (`SessionStore+Projects.swift`): stable while the workspace
    /// exists, unique, and free again once its row is deleted with the workspace.
    static func v4WorkspaceProjects(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE workspace ADD COLUMN projectID INTEGER CHECK (projectID IS NULL OR projectID > 0);
                CREATE UNIQUE INDEX workspace_projectID ON workspace(projectID) WHERE projectID IS NOT NULL;
                """)
    }

    /// The checks on `session.state` and `pool_slot.state` as comparisons joined by `OR` instead of
    /// `IN (...)`, the two tables rebuilt (a CHECK cannot be altered), rows, indexes and all.
    ///
    /// SQLite evaluates `x IN (a list of more than two constants)` through a temporary b-tree that
    /// it builds anew every time the statement runs: for a CHECK, every insert of a row and every
    /// update of the column. An update of such a column took 40,600 instructions in SQLite against
    /// 4,800 with the comparisons, and a warm launch ran three (the session's insert, its
    /// `running`, the slot's claim). The accepted values are the same.
    static func v5StateChecks(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE session_new (
                    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
                    labels TEXT NOT NULL DEFAULT '{}'
                        CHECK (CASE WHEN json_valid(labels) THEN json_type(labels) = 'object' ELSE 0 END),
                    owner TEXT NOT NULL,
                    profile TEXT NOT NULL,
                    image TEXT NOT NULL,
                    command TEXT NOT NULL
                        CHECK (CASE WHEN json_valid(command) THEN json_type(command) = 'array' ELSE 0 END),
                    env TEXT NOT NULL DEFAULT '[]'
                        CHECK (CASE WHEN json_valid(env) THEN json_type(env) = 'array' ELSE 0 END),
                    workspace TEXT NOT NULL,
                    workspaceUID INTEGER NOT NULL CHECK (workspaceUID >= 0),
                    containerName TEXT NOT NULL UNIQUE,
                    containerID TEXT,
                    state TEXT NOT NULL CHECK (state = 'creating' OR state = 'starting' OR state = 'running'
                        OR state = 'stopping' OR state = 'exited' OR state = 'removed' OR state = 'failed'),
                    exitCode INTEGER,
                    exitReason TEXT,
                    error TEXT,
                    requestHash TEXT NOT NULL,
                    daemonInstance TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    startedAt INTEGER,
                    finishedAt INTEGER,
                    lastActivityAt INTEGER NOT NULL,
                    ttlSeconds INTEGER CHECK (ttlSeconds > 0),
                    idleTimeoutSeconds INTEGER CHECK (idleTimeoutSeconds > 0),
                    poolSlot TEXT
                ) STRICT;
                INSERT INTO session_new (
                    id, labels, owner, profile, image, command, env, workspace, workspaceUID, containerName,
                    containerID, state, exitCode, exitReason, error, requestHash, daemonInstance, createdAt,
                    startedAt, finishedAt, lastActivityAt, ttlSeconds, idleTimeoutSeconds, poolSlot)
                SELECT
                    id, labels, owner, profile, image, command, env, workspace, workspaceUID, containerName,
                    containerID, state, exitCode, exitReason, error, requestHash, daemonInstance, createdAt,
                    startedAt, finishedAt, lastActivityAt, ttlSeconds, idleTimeoutSeconds, poolSlot
                FROM session;
                DROP TABLE session;
                ALTER TABLE session_new RENAME TO session;
                CREATE INDEX session_state ON session(state);
                CREATE UNIQUE INDEX session_containerID ON session(containerID) WHERE containerID IS NOT NULL;
                CREATE INDEX session_created ON session(createdAt, id);

                CREATE TABLE pool_slot_new (
                    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
                    profile TEXT NOT NULL,
                    image TEXT NOT NULL,
                    containerName TEXT NOT NULL UNIQUE,
                    containerID TEXT UNIQUE,
                    directory TEXT NOT NULL UNIQUE,
                    state TEXT NOT NULL CHECK (state = 'creating' OR state = 'ready' OR state = 'claimed'),
                    sessionID TEXT UNIQUE,
                    daemonInstance TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    claimedAt INTEGER,
                    CHECK ((state = 'claimed') = (sessionID IS NOT NULL))
                ) STRICT;
                INSERT INTO pool_slot_new (
                    id, profile, image, containerName, containerID, directory, state, sessionID, daemonInstance,
                    createdAt, claimedAt)
                SELECT
                    id, profile, image, containerName, containerID, directory, state, sessionID, daemonInstance,
                    createdAt, claimedAt
                FROM pool_slot;
                DROP TABLE pool_slot;
                ALTER TABLE pool_slot_new RENAME TO pool_slot;
                CREATE INDEX pool_slot_ready ON pool_slot(profile, image, state, createdAt);
                """)
    }
}
