-- Idempotency-Key (issue 11): a key is bound to its first request (a SHA-256 fingerprint of method, path and
-- canonical body) and remembers that request's answer, so the same request again replays it — even after the task
-- was deleted — and another request with the same key is refused (422).
ALTER TABLE idempotency_keys
    ADD COLUMN request_hash bytea,
    ADD COLUMN response jsonb;

-- Keys recorded before this migration have no fingerprint (NULL: they match any request). Their answer is their
-- task as it is now; a key whose task is gone already answered 404 forever, so it is released instead.
UPDATE idempotency_keys k
SET response = jsonb_build_object(
        'id', t.id, 'name', t.name, 'done', t.done, 'version', t.version,
        'created_at', to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'updated_at', to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
FROM tasks t
WHERE t.id = k.task_id;
DELETE FROM idempotency_keys WHERE response IS NULL;

ALTER TABLE idempotency_keys ALTER COLUMN response SET NOT NULL;
