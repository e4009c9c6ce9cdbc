terraform {
  # 1.9: variable validations may refer to other variables (nat_gateway_count / enable_vpc_endpoints).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
