resource "aws_sesv2_configuration_set" "this" {
  configuration_set_name = var.configuration_set_name

  delivery_options {
    tls_policy = "REQUIRE"
  }

  reputation_options {
    reputation_metrics_enabled = true
  }

  sending_options {
    sending_enabled = true
  }

  # With account_suppression SES adds hard bounces and complaints to the account-level list and drops later
  # sends to them; ses-suppressor keeps the application's own list from the same events, and the mail service's
  # unsuppress removes an address from both (SES_ACCOUNT_SUPPRESSION_SYNC, wired to the same variable in
  # terraform/ecs.tf) — otherwise SES would keep dropping mail to an address the application unsuppressed.
  # Without it, the empty list overrides the account setting for this configuration set.
  suppression_options {
    suppressed_reasons = var.account_suppression ? ["BOUNCE", "COMPLAINT"] : []
  }
}

resource "aws_sesv2_email_identity" "this" {
  email_identity         = var.domain
  configuration_set_name = aws_sesv2_configuration_set.this.configuration_set_name

  dkim_signing_attributes {
    next_signing_key_length = "RSA_2048_BIT"
  }
}

# Bounces and complaints -> the ses-feedback topic (the topic policy lets SES publish from this
# configuration set only) -> the ses-suppressor queue.
resource "aws_sesv2_configuration_set_event_destination" "feedback" {
  for_each = { for i, arn in var.feedback_topic_arns : tostring(i) => arn }

  configuration_set_name = aws_sesv2_configuration_set.this.configuration_set_name
  event_destination_name = "feedback-${each.key}"

  event_destination {
    enabled              = true
    matching_event_types = ["BOUNCE", "COMPLAINT"]

    sns_destination {
      topic_arn = each.value
    }
  }
}

resource "aws_route53_record" "dkim" {
  count = var.route53_zone_id == null ? 0 : 3

  zone_id = var.route53_zone_id
  name    = "${aws_sesv2_email_identity.this.dkim_signing_attributes[0].tokens[count.index]}._domainkey.${var.domain}"
  type    = "CNAME"
  ttl     = 1800
  records = ["${aws_sesv2_email_identity.this.dkim_signing_attributes[0].tokens[count.index]}.dkim.amazonses.com"]
}
