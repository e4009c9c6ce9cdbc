# One-off ECS task that creates (or updates) one Postgres role + schema per schema with the passwords terraform
# generated, using the RDS-managed master secret. Idempotent: run it after the first apply and after every
# password change (README, step 4). It uses the stock postgres image (psql >= 15 for \getenv) and verifies the
# server like the binaries do (verify-full against the RDS CA bundle, fetched from AWS's trust store into /tmp).
locals {
  bootstrap_image = "public.ecr.aws/docker/library/postgres:17-alpine"

  bootstrap_sql = join("\n", concat(
    ["\\set ON_ERROR_STOP on", "REVOKE ALL ON DATABASE ${local.db_name} FROM PUBLIC;"],
    flatten([
      for role in sort(tolist(var.database_roles)) : [
        "SELECT 'CREATE ROLE ${role} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}')\\gexec",
        "\\getenv pw DB_PASSWORD_${upper(role)}",
        "ALTER ROLE ${role} WITH LOGIN PASSWORD :'pw';",
        "GRANT ${role} TO CURRENT_USER;",
        "CREATE SCHEMA IF NOT EXISTS ${role} AUTHORIZATION ${role};",
        "GRANT CONNECT ON DATABASE ${local.db_name} TO ${role};",
        "ALTER ROLE ${role} SET search_path = ${role};",
      ]
    ]),
  ))

  master_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn
}

resource "aws_security_group" "bootstrap" {
  #checkov:skip=CKV2_AWS_5:attached at run time by the one-off `aws ecs run-task` of the bootstrap task (output db_bootstrap_command), not to a long-lived resource.
  name        = "${var.name}-db-bootstrap"
  description = "One-off database bootstrap task: Postgres and AWS APIs only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "bootstrap_db" {
  security_group_id            = aws_security_group.bootstrap.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_egress_rule" "bootstrap_https" {
  security_group_id = aws_security_group.bootstrap.id
  description       = "HTTPS to AWS APIs and the image registry"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_cloudwatch_log_group" "bootstrap" {
  name              = "/switchyard/${var.name}/db-bootstrap"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "bootstrap_execution" {
  name               = "${var.name}-db-bootstrap-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "bootstrap_execution" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.bootstrap.arn}:*"]
  }
  statement {
    sid       = "InjectedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([local.master_secret_arn], [for s in aws_secretsmanager_secret.database : s.arn])
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "bootstrap_execution" {
  name   = "pull-logs-secrets"
  role   = aws_iam_role.bootstrap_execution.id
  policy = data.aws_iam_policy_document.bootstrap_execution.json
}

resource "aws_ecs_task_definition" "bootstrap" {
  family                   = "${var.name}-db-bootstrap"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.bootstrap_execution.arn

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "db-bootstrap"
    image                  = local.bootstrap_image
    essential              = true
    user                   = "70:70"
    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    command = ["sh", "-c", join(" && ", [
      "wget -q -O \"$PGSSLROOTCERT\" \"$RDS_CA_BUNDLE_URL\"",
      "printf '%s\\n' \"$BOOTSTRAP_SQL\" | psql -X -f -",
    ])]
    environment = [
      { name = "PGHOST", value = aws_db_instance.this.address },
      { name = "PGPORT", value = tostring(local.db_port) },
      { name = "PGDATABASE", value = local.db_name },
      { name = "PGSSLMODE", value = "verify-full" },
      { name = "PGSSLROOTCERT", value = "/tmp/rds-ca.pem" },
      { name = "RDS_CA_BUNDLE_URL", value = local.rds_ca_bundle_url },
      { name = "BOOTSTRAP_SQL", value = local.bootstrap_sql },
    ]
    secrets = concat(
      [
        { name = "PGUSER", valueFrom = "${local.master_secret_arn}:username::" },
        { name = "PGPASSWORD", valueFrom = "${local.master_secret_arn}:password::" },
      ],
      [
        for role in sort(tolist(var.database_roles)) : {
          name      = "DB_PASSWORD_${upper(role)}"
          valueFrom = "${aws_secretsmanager_secret.database[role].arn}:password::"
        }
      ],
    )
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.bootstrap.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "db-bootstrap"
      }
    }
  }])
}
