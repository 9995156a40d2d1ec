-- A database as written by the v1 schema (sandcastled's first release), with data.
-- Frozen: never regenerate it from newer code. Tests load it and open it with the current migrator.
BEGIN TRANSACTION;
CREATE TABLE event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sessionID TEXT,
    type TEXT NOT NULL CHECK (length(type) > 0),
    time INTEGER NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
) STRICT;
INSERT INTO "event" VALUES(5,'v1-running','session.created',1700000000000,'{}');
INSERT INTO "event" VALUES(6,'v1-running','session.started',1700000000250,'{}');
INSERT INTO "event" VALUES(7,'v1-exited','session.exited',1700000200000,'{"code":137,"reason":"oom"}');
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO "grdb_migrations" VALUES('v1');
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL,
    daemonInstance TEXT NOT NULL
) STRICT;
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
INSERT INTO "session" VALUES('v1-running','{"team":"core"}','key-dev','default','sandbox:1','["/bin/sh","-l"]','["LANG=C.UTF-8"]','ws1',20001,'sandcastle-v1-running','c0ffee','running',NULL,NULL,NULL,'h-run','daemon-a',1700000000000,1700000000250,NULL,1700000100000,3600,600,NULL);
INSERT INTO "session" VALUES('v1-exited','{}','key-ops','default','sandbox:1','["make","test"]','[]','ws2',20002,'sandcastle-v1-exited','dead01','exited',137,'oom',NULL,'h-exit','daemon-a',1700000001000,1700000001300,1700000200000,1700000001300,NULL,NULL,'slot-3');
CREATE INDEX session_state ON session(state);
CREATE UNIQUE INDEX session_containerID ON session(containerID) WHERE containerID IS NOT NULL;
CREATE INDEX session_created ON session(createdAt, id);
CREATE INDEX event_session ON event(sessionID, id);
CREATE INDEX event_time ON event(time);
CREATE TRIGGER event_append_only BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('event',9);
COMMIT;
