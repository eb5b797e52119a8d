-- An identity column draws from a sequence, so ids only grow and are never reused.
CREATE TABLE users (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dni  TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);
