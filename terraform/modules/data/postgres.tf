locals {
  db_name  = "switchyard"
  db_port  = 5432
  db_admin = "switchyard_admin"
}

resource "aws_security_group" "db" {
  name        = "${var.name}-postgres"
  description = "RDS PostgreSQL: 5432 from the binaries and the bootstrap task only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each = merge(var.db_client_security_group_ids, { db-bootstrap = aws_security_group.bootstrap.id })

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = each.value
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-postgres"
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-postgres17"
  family = "postgres17"

  # Clients must use TLS (DATABASE_URL carries sslmode=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Statement logging stays off: ddl/mod logging would write role passwords (ALTER ROLE ... PASSWORD, run by
  # the bootstrap task) into CloudWatch Logs. Slow statements are logged below.
  parameter {
    name  = "log_statement"
    value = "none"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_cloudwatch_log_group" "postgres" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${var.name}-postgres/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_db_instance" "this" {
  identifier     = "${var.name}-postgres"
  engine         = "postgres"
  engine_version = "17"
  instance_class = var.db_instance_class

  db_name  = local.db_name
  port     = local.db_port
  username = local.db_admin
  # The master password lives only in Secrets Manager (RDS-managed, rotated by RDS). It is used by the
  # bootstrap task, never by the binaries: each binary has its own role (see bootstrap.tf).
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-postgres-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn

  performance_insights_enabled          = var.db_performance_insights_enabled
  performance_insights_kms_key_id       = var.db_performance_insights_enabled ? var.kms_key_arn : null
  performance_insights_retention_period = var.db_performance_insights_enabled ? 7 : null

  depends_on = [aws_cloudwatch_log_group.postgres, aws_iam_role_policy_attachment.monitoring]
}

# One Postgres role per schema. Terraform generates the password and stores DATABASE_URL and the bare password
# (for the bootstrap task) in one secret per role; the bootstrap task creates the role + schema.
#
# DATABASE_URL verifies the server (sslmode=verify-full) against the RDS CA bundle the image carries at
# local.rds_ca_bundle (Dockerfile; tests/infra checks that the two paths agree).
locals {
  rds_ca_bundle     = "/etc/ssl/certs/rds-global-bundle.pem"
  rds_ca_bundle_url = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
}

resource "random_password" "db" {
  for_each = var.database_roles

  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:the password is set by terraform and applied by the bootstrap task; rotate with `terraform apply -replace` + bootstrap (README "Rotating database passwords").
  for_each = var.database_roles

  name                    = "switchyard/${var.name}/db/${each.key}/DATABASE_URL"
  description             = "DATABASE_URL of the Postgres role ${each.key} (schema ${each.key})"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database" {
  for_each = var.database_roles

  secret_id = aws_secretsmanager_secret.database[each.key].id
  secret_string = jsonencode({
    url      = "postgres://${each.key}:${random_password.db[each.key].result}@${aws_db_instance.this.address}:${local.db_port}/${local.db_name}?sslmode=verify-full&sslrootcert=${local.rds_ca_bundle}"
    password = random_password.db[each.key].result
  })
}
