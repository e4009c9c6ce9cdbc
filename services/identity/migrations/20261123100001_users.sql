-- Users and their permissions. `permissions_version` increases on every change of `permissions`; access tokens
-- carry the version they were issued at and the Redis cache entry carries its own (see switchyard-auth).
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL UNIQUE,
    display_name        text NOT NULL,
    password_hash       text NOT NULL,
    permissions         text[] NOT NULL DEFAULT '{}',
    permissions_version bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
