module "network" {
  source = "./modules/network"

  name                  = var.environment
  cidr                  = var.vpc_cidr
  nat_gateway_count     = var.nat_gateway_count
  enable_vpc_endpoints  = var.enable_vpc_endpoints
  kms_key_arn           = aws_kms_key.main.arn
  log_retention_days    = var.log_retention_days
  flow_log_traffic_type = var.flow_log_traffic_type
}

locals {
  ses_configuration_set_name = "${var.environment}-mail"
  # Built from the name (not the resource) so the topic policy does not depend on the SES module, which in turn
  # waits for the topic policy before it adds the event destination.
  ses_configuration_set_arn = "arn:${local.partition}:ses:${var.region}:${local.account_id}:configuration-set/${local.ses_configuration_set_name}"
}

module "messaging" {
  source = "./modules/messaging"

  environment     = var.environment
  topics          = local.topics
  queues          = local.queues
  subscriptions   = local.subscriptions
  kms_key_arn     = aws_kms_key.main.arn
  account_id      = local.account_id
  ses_source_arns = [local.ses_configuration_set_arn]
}

module "ses" {
  source = "./modules/ses"

  configuration_set_name = local.ses_configuration_set_name
  domain                 = var.ses_domain
  account_suppression    = var.ses_account_suppression
  feedback_topic_arns    = [for t in local.ses_feedback_topics : module.messaging.topic_arns[t]]
  route53_zone_id        = var.route53_zone_id

  # SES checks that it may publish to the topic when the event destination is created.
  depends_on = [module.messaging]
}

module "data" {
  source = "./modules/data"

  name       = var.environment
  region     = var.region
  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.private_subnet_ids

  kms_key_arn                     = aws_kms_key.main.arn
  database_roles                  = local.database_roles
  db_client_security_group_ids    = { for bin in keys(local.binaries) : bin => aws_security_group.task[bin].id }
  redis_client_security_group_ids = { for bin in keys(local.services) : bin => aws_security_group.task[bin].id }

  db_instance_class               = var.db_instance_class
  db_allocated_storage_gb         = var.db_allocated_storage_gb
  db_multi_az                     = var.db_multi_az
  db_backup_retention_days        = var.db_backup_retention_days
  db_deletion_protection          = var.db_deletion_protection
  db_performance_insights_enabled = var.db_performance_insights_enabled
  redis_node_type                 = var.redis_node_type
  redis_multi_az                  = var.redis_multi_az
  redis_num_cache_clusters        = var.redis_num_cache_clusters
  log_retention_days              = var.log_retention_days
}

module "alb" {
  source = "./modules/alb"

  name                      = var.environment
  vpc_id                    = module.network.vpc_id
  public_subnet_ids         = module.network.public_subnet_ids
  certificate_arn           = var.acm_certificate_arn
  services                  = { for bin, b in local.services : bin => { paths = b.paths, route_priority = b.route_priority } }
  target_security_group_ids = { for bin in keys(local.services) : bin => aws_security_group.task[bin].id }
  deletion_protection       = var.alb_deletion_protection
  waf_rate_limit_per_5min   = var.waf_rate_limit_per_5min
  kms_key_arn               = aws_kms_key.main.arn
  log_retention_days        = var.log_retention_days
}

module "alarms" {
  source = "./modules/alarms"

  name                                 = var.environment
  kms_key_arn                          = aws_kms_key.main.arn
  alarm_email                          = var.alarm_email
  queue_names                          = module.messaging.queue_names
  dlq_names                            = module.messaging.dlq_names
  oldest_message_age_threshold_seconds = var.oldest_message_age_threshold_seconds
  alb_arn_suffix                       = module.alb.alb_arn_suffix
  target_group_arn_suffixes            = module.alb.target_group_arn_suffixes
  http_5xx_rate_threshold_percent      = var.http_5xx_rate_threshold_percent

  # The binaries' own metrics (EMF): outbox lag per publishing service, handler error rate per worker, the dashboard.
  region                               = var.region
  metrics_namespace                    = var.metrics_namespace
  outbox_services                      = toset([for bin in keys(local.binaries) : bin if length(local.topics_published_by[bin]) > 0])
  worker_queues                        = { for bin in keys(local.workers) : bin => module.messaging.queue_names[local.queues_consumed_by[bin][0]] if length(local.queues_consumed_by[bin]) > 0 }
  outbox_lag_threshold_seconds         = var.outbox_lag_threshold_seconds
  handler_error_rate_threshold_percent = var.handler_error_rate_threshold_percent
}

resource "aws_route53_record" "api" {
  count = var.route53_zone_id == null ? 0 : 1

  zone_id = var.route53_zone_id
  name    = var.api_hostname
  type    = "A"

  alias {
    name                   = module.alb.dns_name
    zone_id                = module.alb.zone_id
    evaluate_target_health = true
  }
}
