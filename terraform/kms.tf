# One customer-managed key for the environment: SNS topics, SQS queues, Secrets Manager secrets, CloudWatch
# Logs, RDS, ElastiCache, ECR and the alarm topic. The key policy delegates to IAM (account root statement), so
# each task role can use the key only where its IAM policy grants it (see iam_scopes.tf: publishers get
# kms:GenerateDataKey + kms:Decrypt, consumers kms:Decrypt); AWS services that encrypt on our behalf get
# explicit statements scoped to this account.
resource "aws_kms_key" "main" {
  description             = "switchyard ${var.environment}: messaging, secrets, logs and data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # SNS encrypts/decrypts topic messages and, delivering to the SSE queues, needs the queue key.
        Sid       = "AllowSns"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        # SES publishes bounce/complaint events to the encrypted ses-feedback topic.
        Sid       = "AllowSes"
        Effect    = "Allow"
        Principal = { Service = "ses.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        # CloudWatch alarms publish to the encrypted alarm topic.
        Sid       = "AllowCloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        Sid       = "AllowCloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/switchyard-${var.environment}"
  target_key_id = aws_kms_key.main.key_id
}
