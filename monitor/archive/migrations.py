"""Versioned schema migrations for the SQLite archive, applied in order on open.

The version lives in ``PRAGMA user_version``; each step runs in its own
transaction, so an interrupted upgrade leaves the previous version intact.
Times are stored as Unix seconds (REAL, UTC).
"""

from __future__ import annotations

# The full-text index's triggers on stories since migration 14 (15 rebuilds the table).
_FTS_TRIGGERS = """
    CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts_pending (seq) VALUES (new.seq);
    END;
    CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts_stale (seq, headline, body)
        SELECT old.seq, old.headline, old.body
        WHERE NOT EXISTS (SELECT 1 FROM stories_fts_pending WHERE seq = old.seq);
        DELETE FROM stories_fts_pending WHERE seq = old.seq;
    END;
    CREATE TRIGGER stories_fts_update AFTER UPDATE OF seq, headline, body ON stories BEGIN
        INSERT INTO stories_fts_stale (seq, headline, body)
        SELECT old.seq, old.headline, old.body
        WHERE NOT EXISTS (SELECT 1 FROM stories_fts_pending WHERE seq = old.seq);
        DELETE FROM stories_fts_pending WHERE seq = old.seq;
        INSERT INTO stories_fts_pending (seq) VALUES (new.seq) ON CONFLICT DO NOTHING;
    END;
"""
_STORY_FIELDS = (
    "seq, id, url, headline, body, published, first_seen, updated, author, text_hash, sketch,"
    " content_source, article_error, article_tries, article_retry, feed_sketch, text_feed,"
    " text_words"
)

MIGRATIONS: tuple[str, ...] = (
    # 1: feeds with their poll state, stories with sources, dedupe keys and full-text search.
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        fetch_url TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        gone INTEGER NOT NULL DEFAULT 0,
        etag TEXT,
        last_modified TEXT,
        content_hash TEXT,
        next_poll REAL,
        last_polled REAL,
        last_success REAL,
        error_count INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        failing_since REAL,
        lease_owner TEXT,
        lease_until REAL
    );
    CREATE TABLE stories (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL,
        headline TEXT NOT NULL,
        body TEXT NOT NULL,
        published REAL NOT NULL,
        first_seen REAL NOT NULL,
        updated REAL NOT NULL,
        author TEXT,
        text_hash TEXT NOT NULL,
        sketch BLOB,
        content_source TEXT NOT NULL DEFAULT 'feed'
    );
    CREATE INDEX stories_published ON stories (published);
    CREATE INDEX stories_text_hash ON stories (text_hash);
    CREATE TABLE story_keys (
        key TEXT PRIMARY KEY,
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE story_sources (
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE,
        feed_id INTEGER NOT NULL REFERENCES feeds (id),
        link TEXT NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (story_seq, feed_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_sources_feed ON story_sources (feed_id);
    CREATE TABLE story_minhash (
        hash INTEGER NOT NULL,
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE,
        PRIMARY KEY (hash, story_seq)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE stories_fts USING fts5 (
        headline, body, content='stories', content_rowid='seq',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts (rowid, headline, body) VALUES (new.seq, new.headline, new.body);
    END;
    CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, headline, body)
        VALUES ('delete', old.seq, old.headline, old.body);
    END;
    CREATE TRIGGER stories_fts_update AFTER UPDATE OF headline, body ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, headline, body)
        VALUES ('delete', old.seq, old.headline, old.body);
        INSERT INTO stories_fts (rowid, headline, body) VALUES (new.seq, new.headline, new.body);
    END;
    """,
    # 2: matches, alerts and the outbox that delivers them, digests, notifier state.
    """
    CREATE TABLE matches (
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        matched_at REAL NOT NULL,
        explanation TEXT NOT NULL,
        PRIMARY KEY (story_seq, topic)
    ) WITHOUT ROWID;
    CREATE INDEX matches_topic ON matches (topic, matched_at);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        notifier TEXT NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        created REAL NOT NULL,
        next_attempt REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at REAL,
        lease_owner TEXT,
        lease_until REAL
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt);
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        notifier TEXT NOT NULL,
        created REAL NOT NULL,
        outbox_id TEXT,
        queue TEXT
    );
    CREATE INDEX alerts_queued ON alerts (queue, topic, notifier) WHERE outbox_id IS NULL;
    CREATE INDEX alerts_recent ON alerts (topic, notifier, created);
    CREATE TABLE digests (
        topic TEXT NOT NULL,
        notifier TEXT NOT NULL,
        queue TEXT NOT NULL,
        last_due REAL NOT NULL,
        PRIMARY KEY (topic, notifier, queue)
    ) WITHOUT ROWID;
    CREATE TABLE notifiers (
        name TEXT PRIMARY KEY,
        disabled_at REAL,
        disabled_reason TEXT
    ) WITHOUT ROWID;
    """,
    # 3: the running service: feed health alerts sent, and a status snapshot.
    """
    ALTER TABLE feeds ADD COLUMN health_alerted REAL;
    CREATE TABLE service_status (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: how often each feed publishes, for its poll interval.
    """
    ALTER TABLE feeds ADD COLUMN publish_gap REAL;
    """,
    # 5: full articles: why a story kept its feed's text, and when to try the page again.
    """
    ALTER TABLE stories ADD COLUMN article_error TEXT;
    ALTER TABLE stories ADD COLUMN article_tries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN article_retry REAL;
    ALTER TABLE stories ADD COLUMN feed_sketch BLOB;
    CREATE INDEX stories_article_retry ON stories (article_retry)
        WHERE article_retry IS NOT NULL;
    """,
    # 6: the feed whose text a story has (the fullest any of its feeds gave), and its length;
    # a story's keys by story (which GUID a feed gave it), and its near-duplicate index rows
    # by story (rewritten with its text). A story given several GUIDs by one feed held items
    # merged by their shared link: it keeps its first, and the others' items, no longer
    # found by theirs, become stories of their own at their next poll (the key table keeps
    # no insertion order: the first GUID in sort order stays).
    """
    ALTER TABLE stories ADD COLUMN text_feed INTEGER;
    ALTER TABLE stories ADD COLUMN text_words INTEGER;
    UPDATE stories SET text_feed = (
        SELECT feed_id FROM story_sources WHERE story_seq = stories.seq
        ORDER BY first_seen, feed_id LIMIT 1
    );
    CREATE INDEX story_keys_story ON story_keys (story_seq);
    CREATE INDEX story_minhash_story ON story_minhash (story_seq);
    DELETE FROM story_keys WHERE key LIKE 'guid:%' AND key NOT IN (
        SELECT min(key) FROM story_keys WHERE key LIKE 'guid:%'
        GROUP BY story_seq, substr(key, 1, 5 + instr(substr(key, 6), ':'))
    );
    """,
    # 7: what a feed's schedule is derived from: the server's hints and its Retry-After.
    """
    ALTER TABLE feeds ADD COLUMN max_age REAL;
    ALTER TABLE feeds ADD COLUMN ttl REAL;
    ALTER TABLE feeds ADD COLUMN retry_until REAL;
    """,
    # 8: items a feed brought as backlog (its first poll, or a poll without alerts) never
    # alert; matches whose alerts could not be routed are held until they can be.
    """
    ALTER TABLE story_sources ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE matches ADD COLUMN held TEXT;
    CREATE INDEX matches_held ON matches (topic) WHERE held IS NOT NULL;
    """,
    # 9: stories to be matched, marked in the transaction that stores them and cleared in
    # the one that records their matches: matching runs between the two, holding no lock,
    # and a crash in between leaves the mark for the next poll. `news`: some entry brought
    # the story as news, not backlog; `version` grows with each mark, so that recording
    # an older one's matches leaves a newer mark in place.
    """
    CREATE TABLE unmatched (
        story_seq INTEGER PRIMARY KEY REFERENCES stories (seq) ON DELETE CASCADE,
        news INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    """,
    # 10: the keys of stories pruned by retention: a feed that still carries one of them
    # does not bring it back as a new story (and alert it again).
    """
    CREATE TABLE pruned_keys (
        key TEXT PRIMARY KEY,
        pruned REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 11: the full-text index keeps which stories hold a word, not where (detail=none): the
    # matcher checks every candidate anyway, and positions were half the cost of writing a
    # story (and of rewriting an edited one) and a third of the index.
    """
    DROP TRIGGER stories_fts_insert;
    DROP TRIGGER stories_fts_delete;
    DROP TRIGGER stories_fts_update;
    DROP TABLE stories_fts;
    CREATE VIRTUAL TABLE stories_fts USING fts5 (
        headline, body, content='stories', content_rowid='seq',
        tokenize='unicode61 remove_diacritics 2', detail=none
    );
    INSERT INTO stories_fts (stories_fts) VALUES ('rebuild');
    CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts (rowid, headline, body) VALUES (new.seq, new.headline, new.body);
    END;
    CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, headline, body)
        VALUES ('delete', old.seq, old.headline, old.body);
    END;
    CREATE TRIGGER stories_fts_update AFTER UPDATE OF headline, body ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, headline, body)
        VALUES ('delete', old.seq, old.headline, old.body);
        INSERT INTO stories_fts (rowid, headline, body) VALUES (new.seq, new.headline, new.body);
    END;
    """,
    # 12: the text-hash index keeps only texts too short for a sketch, the only ones looked
    # up by their hash (a longer copy is found by its sketch's probes): a random insert
    # fewer per story, which at a million stories costs a page write each.
    """
    DROP INDEX stories_text_hash;
    CREATE INDEX stories_text_hash ON stories (text_hash)
        WHERE sketch IS NULL OR length(sketch) = 0;
    """,
    # 13: the near-duplicate index's recent rows, in a table of their own that is merged into
    # the big one every 50,000 stories (``sql._merge_probes``): a hash's rows written straight
    # into the big table each dirtied a page of its own once it outgrew the page cache.
    """
    CREATE TABLE story_minhash_new (
        hash INTEGER NOT NULL,
        story_seq INTEGER NOT NULL REFERENCES stories (seq) ON DELETE CASCADE,
        PRIMARY KEY (hash, story_seq)
    ) WITHOUT ROWID;
    CREATE INDEX story_minhash_new_story ON story_minhash_new (story_seq);
    """,
    # 14: the full-text index is written when a transaction ends, for every story it wrote
    # (``SQLiteArchive._tx``), not at each statement: FTS5 flushes a segment at each
    # statement that writes it, and a poll's one INSERT (and one UPDATE) per feed made a
    # segment per feed, each repeating the words of the others. ``stories_fts_pending``
    # holds the stories whose current text the index lacks; ``stories_fts_stale`` the text
    # the index holds for stories since edited or deleted (the first such text: the one
    # indexed), to be taken out of it. Both are empty whenever no transaction is open. An
    # update is a delete and an insert (a story's number may change too). Whatever rebuilds
    # the index ('rebuild') must empty both in the same transaction: the rebuilt index no
    # longer holds the stale texts, and FTS5 given a text it does not hold to delete is
    # damaged.
    """
    CREATE TABLE stories_fts_pending (seq INTEGER PRIMARY KEY);
    CREATE TABLE stories_fts_stale (
        seq INTEGER PRIMARY KEY,
        headline TEXT NOT NULL,
        body TEXT NOT NULL
    );
    DROP TRIGGER stories_fts_insert;
    DROP TRIGGER stories_fts_delete;
    DROP TRIGGER stories_fts_update;
    """
    + _FTS_TRIGGERS,
    # 15: story ids are looked up in an index of their own, in two tables as the
    # near-duplicate index is, merged at the same time (``SQLiteArchive._merge_recent``):
    # the ids are hashes, so the UNIQUE index of the stories table took each new one onto a
    # page of its own once it outgrew the page cache, and at a million stories it was most
    # of what a poll's COMMITs wrote (7,800 of 16,600 WAL pages for 10,000 new stories).
    # SQLite drops a UNIQUE constraint only by rebuilding the table (run with foreign keys
    # off: see REBUILDS): about a minute per million stories, and the file keeps the old
    # table's pages as free space, which new stories fill (`monitor prune --vacuum` gives
    # it back at once). Triggers keep the index, whoever writes or deletes the stories, and
    # the ids unique: no foreign key, whose cascade would need an index by story as well.
    f"""
    CREATE TABLE stories_rebuilt (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        headline TEXT NOT NULL,
        body TEXT NOT NULL,
        published REAL NOT NULL,
        first_seen REAL NOT NULL,
        updated REAL NOT NULL,
        author TEXT,
        text_hash TEXT NOT NULL,
        sketch BLOB,
        content_source TEXT NOT NULL DEFAULT 'feed',
        article_error TEXT,
        article_tries INTEGER NOT NULL DEFAULT 0,
        article_retry REAL,
        feed_sketch BLOB,
        text_feed INTEGER,
        text_words INTEGER
    );
    INSERT INTO stories_rebuilt ({_STORY_FIELDS}) SELECT {_STORY_FIELDS} FROM stories;
    DROP TABLE stories;
    ALTER TABLE stories_rebuilt RENAME TO stories;
    CREATE INDEX stories_published ON stories (published);
    CREATE INDEX stories_article_retry ON stories (article_retry)
        WHERE article_retry IS NOT NULL;
    CREATE INDEX stories_text_hash ON stories (text_hash)
        WHERE sketch IS NULL OR length(sketch) = 0;
    CREATE TABLE story_ids (id TEXT PRIMARY KEY, story_seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE story_ids_new (id TEXT PRIMARY KEY, story_seq INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO story_ids (id, story_seq) SELECT id, seq FROM stories ORDER BY id;
    CREATE TRIGGER story_ids_insert AFTER INSERT ON stories BEGIN
        SELECT RAISE(ABORT, 'UNIQUE constraint failed: stories.id')
        WHERE EXISTS (SELECT 1 FROM story_ids WHERE id = new.id);
        INSERT INTO story_ids_new (id, story_seq) VALUES (new.id, new.seq);
    END;
    CREATE TRIGGER story_ids_delete AFTER DELETE ON stories BEGIN
        DELETE FROM story_ids WHERE id = old.id;
        DELETE FROM story_ids_new WHERE id = old.id;
    END;
    CREATE TRIGGER story_ids_update AFTER UPDATE OF seq, id ON stories BEGIN
        DELETE FROM story_ids WHERE id = old.id;
        DELETE FROM story_ids_new WHERE id = old.id;
        SELECT RAISE(ABORT, 'UNIQUE constraint failed: stories.id')
        WHERE EXISTS (SELECT 1 FROM story_ids WHERE id = new.id);
        INSERT INTO story_ids_new (id, story_seq) VALUES (new.id, new.seq);
    END;
    """
    + _FTS_TRIGGERS,
)
# Migrations that rebuild a table that others refer to, with the columns they copy: run with
# foreign keys off, or dropping the old table would delete every row that refers to it.
REBUILDS = {15: ("stories", _STORY_FIELDS)}
