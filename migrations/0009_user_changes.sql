-- depends: 0008_seat_changes_plan_once
-- Instances cache the users that tokens name (reservations/accounts/user_cache.py: the columns
-- of find_user_by_id in sql/accounts.sql) and serve them with no query while they listen on
-- 'user_changes'. A change of any of those columns (a promotion or demotion, a bump of
-- token_generation that revokes every token issued before, an email or name change) and a
-- deletion tell them, when the transaction commits, to drop that user: payload the user's id
-- (its id before the change). A TRUNCATE tells them to drop every user: payload ''.
CREATE FUNCTION user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('user_changes', '');
    ELSE
        PERFORM pg_notify('user_changes', OLD.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_announce_update AFTER UPDATE ON users
FOR EACH ROW WHEN (
    OLD.role IS DISTINCT FROM NEW.role
    OR OLD.token_generation IS DISTINCT FROM NEW.token_generation
    OR OLD.email IS DISTINCT FROM NEW.email
    OR OLD.first_name IS DISTINCT FROM NEW.first_name
    OR OLD.last_name IS DISTINCT FROM NEW.last_name
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.id IS DISTINCT FROM NEW.id
)
EXECUTE FUNCTION user_changed();

CREATE TRIGGER users_announce_delete AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION user_changed();

CREATE TRIGGER users_announce_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION user_changed();
