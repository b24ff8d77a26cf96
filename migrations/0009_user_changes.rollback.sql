DROP TRIGGER IF EXISTS users_announce_truncate ON users;
DROP TRIGGER IF EXISTS users_announce_delete ON users;
DROP TRIGGER IF EXISTS users_announce_update ON users;
DROP FUNCTION IF EXISTS user_changed();
