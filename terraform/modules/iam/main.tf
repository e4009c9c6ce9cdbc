data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${var.partition}:ecs:${var.region}:${var.account_id}:*"]
    }
  }
}

# --- task role: what the binary's code does -----------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Task role of ${var.name}: exactly the actions of its aws-actions.json"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "task" {
  count = length(var.task_statements) > 0 ? 1 : 0

  dynamic "statement" {
    for_each = var.task_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "task" {
  count = length(var.task_statements) > 0 ? 1 : 0

  name   = "aws-actions"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task[0].json

  lifecycle {
    precondition {
      condition     = alltrue([for s in var.task_statements : length(s.resources) > 0])
      error_message = "A task role statement has no resources: the binary lists an action for a topic/queue it does not publish to/consume in topology.json."
    }
  }
}

# --- execution role: what ECS does to start the task --------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-exec"
  description        = "Execution role of ${var.name}: image pull, its log group, its injected secrets"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrAuth"
    # GetAuthorizationToken has no resource-level permissions.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.injected_secret_arns) > 0 ? [1] : []
    content {
      sid       = "InjectedSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.injected_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.injected_parameter_arns) > 0 ? [1] : []
    content {
      sid       = "InjectedParameters"
      actions   = ["ssm:GetParameters"]
      resources = var.injected_parameter_arns
    }
  }

  statement {
    sid       = "DecryptSecretsAndImages"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-logs-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
