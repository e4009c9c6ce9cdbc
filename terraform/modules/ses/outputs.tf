output "identity_arn" {
  description = "ARN of the SES domain identity."
  value       = aws_sesv2_email_identity.this.arn
}

output "configuration_set_name" {
  description = "SES configuration set (SES_CONFIGURATION_SET of the mailer)."
  value       = aws_sesv2_configuration_set.this.configuration_set_name
}

output "configuration_set_arn" {
  description = "ARN of the SES configuration set."
  value       = aws_sesv2_configuration_set.this.arn
}

output "dkim_records" {
  description = "CNAME records that verify the domain (Easy DKIM). Create them in your DNS unless route53_zone_id is set."
  value = [
    for token in aws_sesv2_email_identity.this.dkim_signing_attributes[0].tokens : {
      name  = "${token}._domainkey.${var.domain}"
      type  = "CNAME"
      value = "${token}.dkim.amazonses.com"
    }
  ]
}
