ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
DROP TABLE IF EXISTS account_tokens;
DROP TABLE IF EXISTS email_attempts;
DROP TABLE IF EXISTS emails;
