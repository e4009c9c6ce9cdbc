-- The probe handler's effect: deliberately NOT unique per event, so a duplicate effect would show up as a second
-- row. Only the inbox stands between redelivery and a double effect.
CREATE TABLE effects (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  uuid        NOT NULL,
    pid       integer     NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
