# Task roles are generated from each binary's aws-actions.json (kept next to its code and checked against the
# Rust sources by tests/infra). This table says, for every action a binary may list, which resources of THAT
# binary it is granted on. An action missing here fails `terraform plan` (invalid index) instead of being
# silently dropped or granted on "*".
locals {
  action_scopes = {
    "sns:Publish"                     = "own_topics"
    "sqs:ReceiveMessage"              = "own_queues"
    "sqs:DeleteMessage"               = "own_queues"
    "sqs:ChangeMessageVisibility"     = "own_queues"
    "sqs:GetQueueAttributes"          = "own_queues"
    "sqs:GetQueueUrl"                 = "own_queues"
    "ses:SendEmail"                   = "ses_sending"
    "ses:SendRawEmail"                = "ses_sending"
    "ses:PutSuppressedDestination"    = "ses_account"
    "ses:DeleteSuppressedDestination" = "ses_account"
    "kms:Decrypt"                     = "messaging_key"
    "kms:GenerateDataKey"             = "messaging_key"
  }

  aws_actions = {
    for bin, b in local.binaries : bin => sort(distinct(jsondecode(file("${path.module}/../${b.dir}/aws-actions.json")).actions))
  }

  scope_resources = {
    for bin, b in local.binaries : bin => {
      own_topics  = [for t in local.topics_published_by[bin] : module.messaging.topic_arns[t]]
      own_queues  = [for q in local.queues_consumed_by[bin] : module.messaging.queue_arns[q]]
      ses_sending = [module.ses.identity_arn, module.ses.configuration_set_arn]
      # The SESv2 account-level suppression list has no resource-level permissions.
      ses_account   = ["*"]
      messaging_key = [aws_kms_key.main.arn]
    }
  }

  # The ADOT collector sidecar (var.adot_collector_enabled) shares the task role and sends the spans to X-Ray: the
  # only grant not in a binary's aws-actions.json (the binary's code makes no such call). X-Ray has no resource-level
  # permissions for these two actions.
  adot_statements = [for s in [{
    sid       = "AdotCollectorXRay"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }] : s if var.adot_collector_enabled]

  task_role_statements = {
    for bin, actions in local.aws_actions : bin => [
      for scope in sort(distinct([for a in actions : local.action_scopes[a]])) : {
        sid       = replace(title(replace(scope, "_", " ")), " ", "")
        actions   = [for a in actions : a if local.action_scopes[a] == scope]
        resources = local.scope_resources[bin][scope]
      }
    ]
  }
}
