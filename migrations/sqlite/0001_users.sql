-- AUTOINCREMENT (not just INTEGER PRIMARY KEY) so that ids are never reused after a delete,
-- as in the original Django app.
CREATE TABLE users (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    dni  TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);
