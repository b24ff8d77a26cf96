-- Attempts in flight are forgotten (a failure still undecided is not counted).
ALTER TABLE login_attempts DROP COLUMN pending;
