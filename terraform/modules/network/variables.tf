variable "name" {
  description = "Name prefix."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR."
  type        = string
}

variable "nat_gateway_count" {
  description = "0, 1 or 2 NAT gateways."
  type        = number
}

variable "enable_vpc_endpoints" {
  description = "Create interface endpoints for the AWS APIs the tasks use."
  type        = bool
}

variable "kms_key_arn" {
  description = "CMK for the flow log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the flow log group."
  type        = number
}

variable "flow_log_traffic_type" {
  description = "ACCEPT, REJECT or ALL."
  type        = string
}
