-- The `mail` schema, shared by the mailer, the ses-suppressor and the mail HTTP service. This one migration set
-- (crate switchyard-mail) owns every table here, so each binary runs the same list (see the crate docs).

-- The suppression list: one row per normalised address that must never be mailed. Unsuppressing deletes the row;
-- the history stays in `feedback_decisions`.
CREATE TABLE suppressions (
    address          text        PRIMARY KEY,
    reason           text        NOT NULL CHECK (reason IN ('bounce', 'complaint', 'soft_bounces', 'manual')),
    suppressed_at    timestamptz NOT NULL DEFAULT now(),
    -- The decision that suppressed it last (null for manual suppressions).
    last_decision_id bigint,
    -- When the address was also put on the SES account-level suppression list (null: sync off or not done).
    ses_synced_at    timestamptz
);

CREATE INDEX suppressions_reason_idx ON suppressions (reason, suppressed_at);
CREATE INDEX suppressions_suppressed_at_idx ON suppressions (suppressed_at);

-- Every decision the suppressor took, one per (feedback, recipient): the idempotency key of the suppressor and the
-- audit trail behind each suppression. Transient bounces are counted from here (the soft-bounce window).
CREATE TABLE feedback_decisions (
    id              bigserial   PRIMARY KEY,
    -- "<mail.messageId>/<feedbackId>": unique per SES feedback notification.
    feedback_key    text        NOT NULL,
    address         text        NOT NULL,
    feedback_type   text        NOT NULL CHECK (feedback_type IN ('bounce', 'complaint')),
    -- Permanent | Transient | Undetermined (bounces only).
    bounce_type     text,
    bounce_sub_type text,
    -- complaintFeedbackType, e.g. abuse, not-spam (complaints only, often absent).
    complaint_type  text,
    decision        text        NOT NULL CHECK (decision IN ('suppressed', 'counted', 'recorded')),
    reason          text        NOT NULL,
    ses_message_id  text,
    -- When SES says the bounce/complaint happened (the feedback's timestamp); the soft-bounce window uses it.
    occurred_at     timestamptz NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    -- The SES notification as received (unwrapped from its SNS envelope).
    feedback        jsonb       NOT NULL,
    UNIQUE (feedback_key, address)
);

CREATE INDEX feedback_decisions_address_idx ON feedback_decisions (address, occurred_at);
CREATE INDEX feedback_decisions_decided_at_idx ON feedback_decisions (decided_at);

-- The mailer's outbound log and send state machine (see the mailer crate docs): one row per event and recipient.
CREATE TABLE outbound_messages (
    id             bigserial   PRIMARY KEY,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    recipient      text        NOT NULL,
    template       text        NOT NULL,
    status         text        NOT NULL
                   CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'unknown')),
    ses_message_id text,
    -- Which SES API sent it: v2 (SESv2 SendEmail) or v1 (SES SendEmail).
    ses_api        text,
    -- Send attempts started (claims taken); more than one only after throttling or a not-sent error.
    attempts       integer     NOT NULL DEFAULT 0,
    -- Why it was skipped or failed, or what left it unknown.
    detail         text,
    -- Set when the row entered `sending`: a claim older than the send lease was abandoned by a crash.
    sending_since  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient)
);

CREATE INDEX outbound_messages_recipient_idx ON outbound_messages (recipient, created_at);
CREATE INDEX outbound_messages_attention_idx ON outbound_messages (status, updated_at)
    WHERE status IN ('sending', 'unknown', 'failed');
