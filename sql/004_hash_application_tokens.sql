-- applications.token becomes applications.token_sha256: the SHA-256 digest
-- of the token, 32 bytes, instead of the token itself, so that a read of
-- the table (or of a backup) yields no token a client could use.
--
-- Indexes and the queries they serve:
--   uq_applications_token_sha256 (token_sha256)
--       every route under /applications/{token}: the program hashes the
--       token of the path and runs SELECT ... WHERE token_sha256 = ?, one
--       indexed equality as before.  Unique: a token names one application.
--
-- Existing rows are converted in place; the tokens themselves are gone
-- afterwards (clients keep theirs, which still work).  BINARY compares byte
-- for byte, like the VARBINARY it replaces.

ALTER TABLE applications
    ADD COLUMN token_sha256 BINARY(32) NULL AFTER id;

UPDATE applications SET token_sha256 = UNHEX(SHA2(token, 256));

ALTER TABLE applications
    MODIFY token_sha256 BINARY(32) NOT NULL,
    DROP INDEX uq_applications_token,
    DROP COLUMN token,
    ADD UNIQUE KEY uq_applications_token_sha256 (token_sha256);
