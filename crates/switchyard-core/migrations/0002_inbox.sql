-- Consumer inbox: one row per processed message key (the CloudEvent id for domain events), written in the same
-- transaction as the handler's effects. A redelivered or re-published event finds its row and is skipped.
CREATE TABLE inbox (
    message_key   text        PRIMARY KEY,
    event_type    text,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
