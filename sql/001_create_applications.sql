-- applications: one row per POST /applications.
--
-- Indexes and the queries they serve:
--   PRIMARY KEY (id)
--       the hourly sync recomputes chats_count by id
--       (UPDATE applications a SET a.chats_count = (SELECT COUNT(*) ...)
--       WHERE a.id IN (...), or WHERE a.id > ? AND a.id <= ? over all),
--       and a rename addresses the application by id; ids never leave the
--       server.
--   uq_applications_token (token)
--       every route under /applications/{token}: SELECT ... WHERE token = ?.
--       Unique, so a token names exactly one application (an INSERT that
--       collides fails instead of sharing a token).
--
-- token is VARBINARY: comparisons are byte-exact, case-sensitive and
-- without the trailing-space folding of PAD SPACE collations such as
-- ascii_bin ('abc' = 'abc '), on MariaDB and MySQL alike.  The programs
-- also check a token against [A-Za-z0-9_-]{22,64} before any query.

CREATE TABLE applications (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    token       VARBINARY(64) NOT NULL,
    name        VARCHAR(255) NOT NULL,
    chats_count INT UNSIGNED NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_applications_token (token)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
