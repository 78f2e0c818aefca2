-- messages: one row per persisted message; the worker inserts it from the
-- Redis queue with the number Redis assigned and indexes it for search.
--
-- Indexes and the queries they serve:
--   PRIMARY KEY (id)
--       jobs/reindex walks the table in id order (keyset):
--           WHERE m.id > ? ORDER BY m.id LIMIT ?
--   uq_messages_chat_number (chat_id, number)
--       GET/PATCH/PUT/DELETE .../chats/{c}/messages/{n}, edits and deletes
--       included (UPDATE messages SET body = ?, updated_at = ...
--       WHERE chat_id = ? AND number = ?):
--           WHERE chat_id = ? AND number = ?
--       GET .../chats/{c}/messages (ascending, keyset paging):
--           WHERE chat_id = ? AND number > ? ORDER BY number LIMIT ?
--       the indexer reading the rows it indexes (search results come from
--       the search engine's documents, not from MariaDB):
--           WHERE (chat_id, number) IN ((?, ?), ...)
--       DELETE of a chat, in batches:
--           DELETE FROM messages WHERE chat_id = ? LIMIT ?
--       the hourly sync's messages_count:
--           SELECT COUNT(*) ... WHERE chat_id = ?  (index prefix)
--       and it makes the worker's insert idempotent: a job delivered twice
--       hits the unique key instead of creating a second message.
--
-- body is TEXT: at most 65535 bytes, the contract's limit for a body.
-- No foreign key to chats: deletes run in batches from the code.

CREATE TABLE messages (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    chat_id    BIGINT UNSIGNED NOT NULL,
    number     INT UNSIGNED NOT NULL,
    body       TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_messages_chat_number (chat_id, number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
