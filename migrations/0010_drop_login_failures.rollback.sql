-- login_failures as migrations/0001 made it (its rows are not brought back).
CREATE TABLE login_failures (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);
