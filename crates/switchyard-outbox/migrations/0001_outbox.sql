-- Transactional outbox: a service inserts its events here in the same transaction as its state change.
-- The relay publishes rows to SNS and deletes them; failed rows wait until available_at (backoff).
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    -- The exact CloudEvent JSON that is published (text, not jsonb: published bytes = committed bytes).
    payload       text        NOT NULL,
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    available_at  timestamptz NOT NULL DEFAULT now(),
    last_error    text
);

CREATE INDEX outbox_available_idx ON outbox (available_at, id);

-- Wake the relay of THIS schema on commit (NOTIFY is delivered at commit, never for rolled back rows).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
