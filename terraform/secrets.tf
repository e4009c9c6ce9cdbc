# JWT signing keys of identity (JWT_SIGNING_KEYS, JSON of Ed25519 keys). Terraform creates the secret but never
# sees the keys: put the value once after the first apply (README, step 5) and rotate it the same way.
resource "aws_secretsmanager_secret" "jwt_signing_keys" {
  #checkov:skip=CKV2_AWS_57:Ed25519 JWT keys are rotated by publishing a new key set (old key kept for verification); a Lambda rotation cannot do that. See README "Rotating the JWT signing keys".
  name                    = "switchyard/${var.environment}/identity/JWT_SIGNING_KEYS"
  description             = "JWT_SIGNING_KEYS of identity (JSON of Ed25519 keys)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}
