-- Concurrent refreshes (issue 11): when a refresh token is rotated, the pair it was exchanged for (access token +
-- successor refresh token) is kept with it, sealed (ChaCha20-Poly1305) under a key derived from the rotated token
-- itself. Presenting the rotated token again within REFRESH_REUSE_GRACE_SECONDS returns that same pair instead of
-- counting as reuse; only a holder of the rotated token can open it (the token is stored as a hash only).
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed bytea;
