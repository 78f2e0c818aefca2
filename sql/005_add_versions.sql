-- version: the optimistic-concurrency counter behind each object's ETag.
--
-- Every statement that changes what the API shows of a row adds 1 to its
-- version in the same statement (a rename, an edited body, a chat row
-- whose creation time the worker moves earlier); a PATCH, PUT or DELETE
-- with If-Match runs with "AND version = ?" in its WHERE clause, so a
-- change made since the client read the object is caught by the same
-- statement that would overwrite it.  New rows start at 1 (the worker
-- inserts with the default; a job delivered twice keeps the row as it is).
--
-- chats_count and messages_count are changed by the sync program
-- without touching version: the ETag is made of both (version and count),
-- and a conditional write checks both.
--
-- ADD COLUMN with a constant default is an instant change on MariaDB 10.3+
-- and MySQL 8.0.12+: no table copy.

ALTER TABLE applications
    ADD COLUMN version INT UNSIGNED NOT NULL DEFAULT 1;
ALTER TABLE chats
    ADD COLUMN version INT UNSIGNED NOT NULL DEFAULT 1;
ALTER TABLE messages
    ADD COLUMN version INT UNSIGNED NOT NULL DEFAULT 1;
