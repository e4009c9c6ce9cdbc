# One repository per binary ("<environment>/<bin>"); CI pushes "<repo>:<image_tag>" (see README).
resource "aws_ecr_repository" "bin" {
  for_each = local.binaries

  name                 = "${var.environment}/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "bin" {
  for_each = aws_ecr_repository.bin

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 50 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}

locals {
  images = {
    for bin in keys(local.binaries) : bin => (
      var.image_repository == null
      ? "${aws_ecr_repository.bin[bin].repository_url}:${var.image_tag}"
      : "${var.image_repository}/${bin}:${var.image_tag}"
    )
  }
}
