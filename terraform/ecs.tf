resource "aws_ecs_cluster" "this" {
  name = var.environment

  # Container Insights also provides RunningTaskCount for the workers' backlog-per-task scaling.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]
}

# Private DNS for service-to-service calls: tasks and mail reach identity (JWKS, /internal/* permission
# refills) at http://identity.<environment>.switchyard.internal:8080 — never through the public ALB, which
# refuses /internal/*. Plain Cloud Map A records: no sidecar, unlike Service Connect.
resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = "${var.environment}.switchyard.internal"
  description = "switchyard ${var.environment} service discovery"
  vpc         = module.network.vpc_id
}

resource "aws_service_discovery_service" "identity" {
  name = local.identity_provider

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

# --- security groups ----------------------------------------------------------------------------------------------

locals {
  service_port = 8080
  # Services that call identity over service discovery (IDENTITY_URL), each with a service account of its own
  # (client id = the binary's name, secret in aws_secretsmanager_secret.identity_client_secret).
  identity_clients = toset([for bin in keys(local.services) : bin if bin != local.identity_provider])
}

resource "aws_security_group" "task" {
  #checkov:skip=CKV2_AWS_5:attached to the ECS service of each binary in module.ecs_service (security_group_ids); checkov does not follow for_each module inputs.
  for_each = local.binaries

  name        = "${var.environment}-${each.key}"
  description = "Tasks of ${each.key}"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  for_each = local.services

  security_group_id            = aws_security_group.task[each.key].id
  description                  = "HTTP from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.service_port
  to_port                      = local.service_port
  referenced_security_group_id = module.alb.security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "identity_from_services" {
  for_each = local.identity_clients

  security_group_id            = aws_security_group.task[local.identity_provider].id
  description                  = "HTTP from ${each.key} (JWKS, internal endpoints)"
  ip_protocol                  = "tcp"
  from_port                    = local.service_port
  to_port                      = local.service_port
  referenced_security_group_id = aws_security_group.task[each.key].id
}

resource "aws_vpc_security_group_egress_rule" "to_identity" {
  for_each = local.identity_clients

  security_group_id            = aws_security_group.task[each.key].id
  description                  = "HTTP to identity"
  ip_protocol                  = "tcp"
  from_port                    = local.service_port
  to_port                      = local.service_port
  referenced_security_group_id = aws_security_group.task[local.identity_provider].id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = local.binaries

  security_group_id = aws_security_group.task[each.key].id
  description       = "HTTPS to AWS APIs (NAT or VPC endpoints) and ECR"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "postgres" {
  for_each = local.binaries

  security_group_id            = aws_security_group.task[each.key].id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.data.db_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "redis" {
  for_each = local.services

  security_group_id            = aws_security_group.task[each.key].id
  description                  = "Redis (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = module.data.redis_security_group_id
}

# --- task definitions, roles, services ----------------------------------------------------------------------------

locals {
  log_groups = { for bin in keys(local.binaries) : bin => "/switchyard/${var.environment}/${bin}" }

  # The variables every ecs-taskdefs/<bin>.json may use (templatefile needs all of them; unused ones are ignored).
  # tests/infra renders the JSON files with the same names.
  taskdef_vars = {
    for bin, b in local.binaries : bin => {
      family                      = "${var.environment}-${bin}"
      image                       = local.images[bin]
      execution_role_arn          = module.iam[bin].execution_role_arn
      task_role_arn               = module.iam[bin].task_role_arn
      cpu                         = tostring(local.task_sizes[bin].cpu)
      memory                      = tostring(local.task_sizes[bin].memory)
      cpu_architecture            = var.cpu_architecture
      log_group                   = local.log_groups[bin]
      aws_region                  = var.region
      rust_log                    = var.rust_log
      database_schema             = b.schema
      database_url_secret_arn     = module.data.database_url_secret_arns[b.schema]
      redis_url_secret_arn        = module.data.redis_url_secret_arn
      cors_allowed_origins        = join(",", var.cors_allowed_origins)
      jwt_issuer                  = local.jwt_issuer
      jwt_audience                = var.jwt_audience
      jwt_signing_keys_secret_arn = aws_secretsmanager_secret.jwt_signing_keys.arn
      service_clients_secret_arn  = aws_secretsmanager_secret.service_clients.arn
      identity_client_id          = bin
      identity_client_secret_arn  = contains(local.identity_clients, bin) ? aws_secretsmanager_secret.identity_client_secret[bin].arn : ""
      identity_url                = "http://${local.identity_provider}.${aws_service_discovery_private_dns_namespace.this.name}:${local.service_port}"
      topic_arn                   = length(local.topics_published_by[bin]) > 0 ? module.messaging.topic_arns[local.topics_published_by[bin][0]] : ""
      queue_url                   = length(local.queues_consumed_by[bin]) > 0 ? module.messaging.queue_urls[local.queues_consumed_by[bin][0]] : ""
      ses_from_address            = local.ses_from_address
      ses_configuration_set       = module.ses.configuration_set_name
      ses_feedback_topic_arns     = join(",", [for t in local.ses_feedback_topics : module.messaging.topic_arns[t]])
      ses_account_suppression     = tostring(var.ses_account_suppression)
      trusted_proxy_hops          = tostring(var.trusted_proxy_hops)
      metrics_namespace           = var.metrics_namespace
      metrics_dimensions          = "Environment=${var.environment}"
    }
  }

  rendered_taskdefs = {
    for bin in keys(local.binaries) : bin => jsondecode(templatefile("${path.module}/../ecs-taskdefs/${bin}.json", local.taskdef_vars[bin]))
  }

  # The ADOT collector sidecar (var.adot_collector_enabled): it receives OTLP/HTTP on localhost:4318 (awsvpc tasks
  # share localhost) and sends the spans to X-Ray. The binary exports spans only when OTEL_EXPORTER_OTLP_ENDPOINT is
  # set, so it is set only together with the sidecar. Expressions without `cond ? a : b` on objects, so both cases
  # have one type.
  adot_containers = {
    for bin in keys(local.binaries) : bin => jsondecode(templatefile("${path.module}/../ecs-taskdefs/sidecars/adot-collector.json", {
      image      = var.adot_collector_image
      log_group  = local.log_groups[bin]
      aws_region = var.region
    }))
  }
  otel_environment = [for e in [
    { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = "http://localhost:4318" },
    { name = "OTEL_TRACES_SAMPLER", value = "parentbased_traceidratio" },
    { name = "OTEL_TRACES_SAMPLER_ARG", value = tostring(var.trace_sample_ratio) },
  ] : e if var.adot_collector_enabled]
  adot_depends_on = [for d in [{ containerName = "aws-otel-collector", condition = "START" }] : d if var.adot_collector_enabled]

  taskdefs = {
    for bin, td in local.rendered_taskdefs : bin => merge(td, {
      containerDefinitions = concat(
        [merge(td.containerDefinitions[0], {
          environment = concat(td.containerDefinitions[0].environment, local.otel_environment)
          dependsOn   = local.adot_depends_on
        })],
        [for c in [local.adot_containers[bin]] : c if var.adot_collector_enabled],
      )
    })
  }

  # valueFrom of every injected secret, reduced to the secret's ARN (drops ":json-key:version-stage:version-id").
  injected_value_from = {
    for bin, td in local.taskdefs : bin => flatten([for c in td.containerDefinitions : [for s in try(c.secrets, []) : s.valueFrom]])
  }
  injected_secret_arns = {
    for bin, refs in local.injected_value_from : bin => distinct([
      for r in refs : join(":", slice(split(":", r), 0, 7)) if split(":", r)[2] == "secretsmanager"
    ])
  }
  injected_parameter_arns = {
    for bin, refs in local.injected_value_from : bin => distinct([for r in refs : r if split(":", r)[2] == "ssm"])
  }
}

module "iam" {
  source   = "./modules/iam"
  for_each = local.binaries

  name                    = "${var.environment}-${each.key}"
  task_statements         = concat(local.task_role_statements[each.key], local.adot_statements)
  injected_secret_arns    = local.injected_secret_arns[each.key]
  injected_parameter_arns = local.injected_parameter_arns[each.key]
  log_group_arn           = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.log_groups[each.key]}"
  ecr_repository_arn      = aws_ecr_repository.bin[each.key].arn
  kms_key_arn             = aws_kms_key.main.arn
  account_id              = local.account_id
  partition               = local.partition
  region                  = var.region
}

module "ecs_service" {
  source   = "./modules/ecs-service"
  for_each = local.binaries

  name               = "${var.environment}-${each.key}"
  kind               = each.value.kind
  task_definition    = local.taskdefs[each.key]
  task_role_arn      = module.iam[each.key].task_role_arn
  execution_role_arn = module.iam[each.key].execution_role_arn
  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [aws_security_group.task[each.key].id]
  log_group_name     = local.log_groups[each.key]
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn

  target_group_arn      = each.value.kind == "service" ? module.alb.target_group_arns[each.key] : null
  alb_resource_label    = each.value.kind == "service" ? "${module.alb.alb_arn_suffix}/${module.alb.target_group_arn_suffixes[each.key]}" : null
  service_discovery_arn = each.key == local.identity_provider ? aws_service_discovery_service.identity.arn : null
  queue_name            = length(local.queues_consumed_by[each.key]) > 0 ? module.messaging.queue_names[local.queues_consumed_by[each.key][0]] : null

  min_capacity        = local.scaling[each.key].min
  max_capacity        = local.scaling[each.key].max
  cpu_target_percent  = var.service_cpu_target_percent
  requests_per_target = var.service_requests_per_target
  backlog_per_task    = var.worker_backlog_per_task
}
