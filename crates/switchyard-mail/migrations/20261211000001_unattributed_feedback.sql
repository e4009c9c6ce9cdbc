-- Bounce and complaint feedback the ses-suppressor could not attribute to an address: a notification that names no
-- bounced or complained recipient (SES sends Undetermined bounces without one), or a recipient that is not an
-- address. Nothing can be suppressed, but nothing is dropped either: the feedback is kept here for an operator, once
-- per (feedback, recipient as SES wrote it). Additive: the mailer and the mail service never read this table.
CREATE TABLE unattributed_feedback (
    id             bigserial   PRIMARY KEY,
    -- The same key as feedback_decisions: "<mail.messageId>/<feedbackId>".
    feedback_key   text        NOT NULL,
    -- As SES wrote it; '' when the notification names no recipient.
    recipient      text        NOT NULL,
    feedback_type  text        NOT NULL CHECK (feedback_type IN ('bounce', 'complaint')),
    bounce_type    text,
    -- Why no decision could be taken.
    reason         text        NOT NULL,
    ses_message_id text,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    feedback       jsonb       NOT NULL,
    UNIQUE (feedback_key, recipient)
);

CREATE INDEX unattributed_feedback_recorded_at_idx ON unattributed_feedback (recorded_at);
