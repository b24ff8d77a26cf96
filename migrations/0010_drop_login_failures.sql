-- depends: 0009_user_changes
-- The fixed-window login counters of migrations/0001, unused since login_attempts (0006)
-- replaced them; the sweeper's housekeeping no longer empties them either.
DROP TABLE login_failures;
