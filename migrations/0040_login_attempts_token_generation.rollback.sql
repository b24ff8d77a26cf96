ALTER TABLE users DROP COLUMN IF EXISTS token_generation;
DROP TABLE IF EXISTS login_attempts;
