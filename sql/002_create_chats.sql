-- chats: one row per persisted chat; the worker inserts it from the Redis
-- queue with the number Redis assigned.
--
-- Indexes and the queries they serve:
--   PRIMARY KEY (id)
--       messages.chat_id points here; the worker deletes a chat by id, and
--       the hourly sync recomputes messages_count over ranges of ids
--       (UPDATE chats c SET c.messages_count = (SELECT COUNT(*) ...)
--       WHERE c.id > ? AND c.id <= ?).
--   uq_chats_app_number (application_id, number)
--       GET /applications/{token}/chats/{number} and every route below it:
--           WHERE application_id = ? AND number = ?
--       GET /applications/{token}/chats (ascending, keyset paging):
--           WHERE application_id = ? AND number > ? ORDER BY number LIMIT ?
--       the worker's and the indexer's look-up of chat ids, and the hourly
--       sync's messages_count of the chats marked since its last run:
--           WHERE (application_id, number) IN ((?, ?), ...)
--       the hourly sync's chats_count:
--           SELECT COUNT(*) ... WHERE application_id = ?  (index prefix)
--       and it makes the worker's insert idempotent: a job delivered twice
--       hits the unique key instead of creating a second chat.
--
-- No foreign key to applications: deletes run in batches from the code.

CREATE TABLE chats (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    application_id BIGINT UNSIGNED NOT NULL,
    number         INT UNSIGNED NOT NULL,
    messages_count INT UNSIGNED NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_chats_app_number (application_id, number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
