-- Every domain event, exactly once (the inbox guards duplicates; the primary key is a second line of defence).
CREATE TABLE archived_events (
    event_id     uuid        PRIMARY KEY,
    event_type   text        NOT NULL,
    source       text        NOT NULL,
    subject      text,
    time         timestamptz NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    -- The whole CloudEvent, re-published as is by `yard replay`.
    body         jsonb       NOT NULL
);

CREATE INDEX archived_events_time_idx ON archived_events (time, event_id);
CREATE INDEX archived_events_type_time_idx ON archived_events (event_type, time);
CREATE INDEX archived_events_subject_idx ON archived_events (subject);
