output "topic_arns" {
  description = "Topology topic key => ARN."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "queue_arns" {
  description = "Topology queue key => ARN."
  value       = { for k, q in aws_sqs_queue.this : k => q.arn }
}

output "queue_urls" {
  description = "Topology queue key => URL."
  value       = { for k, q in aws_sqs_queue.this : k => q.id }
}

output "queue_names" {
  description = "Topology queue key => physical name."
  value       = { for k, q in aws_sqs_queue.this : k => q.name }
}

output "dlq_names" {
  description = "Topology queue key => DLQ physical name."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}
