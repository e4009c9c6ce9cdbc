locals {
  # The single source of truth for messaging, shared with `yard provision`. Every topic, queue, DLQ and
  # subscription below is created with for_each over these maps: no topic or queue name is typed in terraform.
  topology = jsondecode(file("${path.module}/../topology.json"))

  # Normalised copies with one value type per map (filter_policy is an object or null in the JSON).
  topics = {
    for key, t in local.topology.topics : key => {
      description = t.description
      publishers  = t.publishers
    }
  }
  queues = {
    for key, q in local.topology.queues : key => {
      consumer                      = q.consumer
      visibility_timeout_seconds    = q.visibility_timeout_seconds
      max_receive_count             = q.max_receive_count
      message_retention_seconds     = q.message_retention_seconds
      dlq_message_retention_seconds = q.dlq_message_retention_seconds
    }
  }
  subscriptions = {
    for key, s in local.topology.subscriptions : key => {
      topic                = s.topic
      queue                = s.queue
      raw_message_delivery = s.raw_message_delivery
      filter_policy        = s.filter_policy == null ? null : jsonencode(s.filter_policy)
    }
  }

  # The deploy contract: every binary, where its code lives, and how it is exposed. The directory holds the
  # binary's aws-actions.json (the AWS actions its code calls), which terraform turns into its task role.
  # `schema` is the Postgres schema (and role) the binary uses: the code's default DATABASE_SCHEMA
  # (env-contract.json; tests/infra checks both). mailer and ses-suppressor share the mail service's schema:
  # the suppressor writes the suppression list the mailer reads and the mail service administers.
  binaries = {
    identity = {
      kind           = "service"
      dir            = "services/identity"
      schema         = "identity"
      paths          = ["/v1/users*", "/v1/sessions*", "/.well-known/jwks.json"]
      route_priority = 100
    }
    tasks = {
      kind           = "service"
      dir            = "services/tasks"
      schema         = "tasks"
      paths          = ["/v1/tasks*"]
      route_priority = 200
    }
    mail = {
      kind           = "service"
      dir            = "services/mail"
      schema         = "mail"
      paths          = ["/v1/suppressions*", "/v1/messages*", "/v1/mail-stats*"]
      route_priority = 300
    }
    mailer = {
      kind           = "worker"
      dir            = "workers/mailer"
      schema         = "mail"
      paths          = []
      route_priority = 0
    }
    ses-suppressor = {
      kind           = "worker"
      dir            = "workers/ses-suppressor"
      schema         = "mail"
      paths          = []
      route_priority = 0
    }
    event-archive = {
      kind           = "worker"
      dir            = "workers/event-archive"
      schema         = "event_archive"
      paths          = []
      route_priority = 0
    }
  }

  services = { for bin, b in local.binaries : bin => b if b.kind == "service" }
  # One Postgres role per schema, shared by the binaries that use that schema.
  database_roles = toset([for b in local.binaries : b.schema])
  workers        = { for bin, b in local.binaries : bin => b if b.kind == "worker" }

  # Binary that serves the JWKS and the /internal/* permission endpoints to the other services.
  identity_provider = "identity"

  # Topology relations, by binary.
  topics_published_by = {
    for bin in keys(local.binaries) : bin => [for key, t in local.topics : key if contains(t.publishers, bin)]
  }
  queues_consumed_by = {
    for bin in keys(local.binaries) : bin => [for key, q in local.queues : key if q.consumer == bin]
  }
  # Topics SES publishes to (configuration set event destination): the "ses" publisher in the topology.
  ses_feedback_topics = [for key, t in local.topics : key if contains(t.publishers, "ses")]

  # Sizes from `make bench` (footprint): every binary peaks far below 512 MiB, so the smallest Fargate size,
  # except identity, whose argon2id logins are CPU-bound (see README, "Task sizes"). var.task_sizes overrides.
  measured_task_sizes = {
    identity = { cpu = 512, memory = 1024 }
  }
  task_sizes = {
    for bin in keys(local.binaries) : bin => lookup(var.task_sizes, bin, lookup(local.measured_task_sizes, bin, { cpu = 256, memory = 512 }))
  }
  scaling = {
    for bin, b in local.binaries : bin => lookup(var.scaling, bin, b.kind == "service" ? { min = 2, max = 6 } : { min = 1, max = 4 })
  }

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  jwt_issuer       = coalesce(var.jwt_issuer, "https://${var.api_hostname}")
  ses_from_address = coalesce(var.ses_from_address, "no-reply@${var.ses_domain}")
}
