# JWT signing keys of identity (JWT_SIGNING_KEYS, JSON of Ed25519 keys). Terraform creates the secret but never
# sees the keys: put the value once after the first apply (README, step 5) and rotate it the same way.
resource "aws_secretsmanager_secret" "jwt_signing_keys" {
  #checkov:skip=CKV2_AWS_57:Ed25519 JWT keys are rotated by publishing a new key set (old key kept for verification); a Lambda rotation cannot do that. See README "Rotating the JWT signing keys".
  name                    = "switchyard/${var.environment}/identity/JWT_SIGNING_KEYS"
  description             = "JWT_SIGNING_KEYS of identity (JSON of Ed25519 keys)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

# Service accounts (issue 15): identity's SERVICE_CLIENTS (JSON list of client ids, argon2id hashes of their secrets
# and scopes) and, for every service that calls identity's internal endpoint, its own IDENTITY_CLIENT_SECRET.
# `identity create-client` prints both halves; terraform creates the secrets but never sees the values (README,
# step 5). Rotation: create a new secret for the client, list both hashes in SERVICE_CLIENTS, deploy identity, put
# the new client secret, deploy the client, drop the old hash.
resource "aws_secretsmanager_secret" "service_clients" {
  #checkov:skip=CKV2_AWS_57:client secrets are rotated by listing a second hash for the client (no downtime), which a Lambda rotation cannot do. See README "Service accounts".
  name                    = "switchyard/${var.environment}/identity/SERVICE_CLIENTS"
  description             = "SERVICE_CLIENTS of identity (service accounts: client ids, argon2id secret hashes, scopes)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret" "identity_client_secret" {
  #checkov:skip=CKV2_AWS_57:rotated together with its SERVICE_CLIENTS entry (see aws_secretsmanager_secret.service_clients).
  for_each = local.identity_clients

  name                    = "switchyard/${var.environment}/${each.key}/IDENTITY_CLIENT_SECRET"
  description             = "IDENTITY_CLIENT_SECRET of ${each.key} (its client secret at identity)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}
