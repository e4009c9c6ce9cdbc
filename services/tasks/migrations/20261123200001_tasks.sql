CREATE TABLE tasks (
    id           uuid        PRIMARY KEY,
    owner_id     uuid        NOT NULL,
    -- Copied from identity at creation, so task events carry what the mailer needs.
    owner_email  text        NOT NULL,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    done         boolean     NOT NULL DEFAULT false,
    -- Optimistic concurrency: the ETag; every change increments it.
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasks_owner_idx ON tasks (owner_id, id);

-- POST /v1/tasks with an Idempotency-Key: a repeated key returns the task it created.
CREATE TABLE idempotency_keys (
    owner_id    uuid        NOT NULL,
    key         text        NOT NULL,
    task_id     uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, key)
);
