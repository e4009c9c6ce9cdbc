provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = "switchyard"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
