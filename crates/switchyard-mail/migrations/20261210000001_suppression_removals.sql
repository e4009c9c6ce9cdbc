-- Unsuppressions (mail service `DELETE /v1/suppressions/{email}`): who removed which entry and when. Deleting the
-- `suppressions` row is what unsuppresses (the mailer only looks there); the entry as it was is kept here, beside
-- the feedback that caused it. Additive: the mailer and the ses-suppressor never read this table.
CREATE TABLE suppression_removals (
    id               bigserial   PRIMARY KEY,
    address          text        NOT NULL,
    -- The removed entry, copied from `suppressions`.
    reason           text        NOT NULL,
    suppressed_at    timestamptz NOT NULL,
    last_decision_id bigint,
    ses_synced_at    timestamptz,
    -- The identity user (JWT `sub`) who removed it.
    removed_by       uuid        NOT NULL,
    removed_at       timestamptz NOT NULL DEFAULT now(),
    -- When SESv2 DeleteSuppressedDestination removed it from the account-level list too (null: sync off).
    ses_removed_at   timestamptz
);

CREATE INDEX suppression_removals_address_idx ON suppression_removals (address, removed_at);
