-- The users this service knows (issue 15): a projection of identity's `user.registered` events, written by the
-- tasks service's own consumer (queue `tasks`, through the inbox), so creating a task needs no call to identity.
-- Users registered before this table existed are backfilled with `yard replay --queue tasks --since ...`.
CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    -- The address identity registered (normalised there): the owner_email of new tasks.
    email          text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    projected_at   timestamptz NOT NULL DEFAULT now()
);
