# HTTPS and DNS.
#
# Order of operations (why a first apply works): Terraform creates the certificate and validates it
# through records in the existing zone — nothing here waits for a load balancer. The ALB does not
# exist until the chart's Ingress is applied (Auto Mode creates it), so the service's record is not a
# Terraform alias: ExternalDNS (installed by the pipeline's controller step, Pod Identity role in
# iam.tf) writes the alias when the Ingress gets its ALB address, and moves it if the ALB is ever
# replaced. A Terraform alias would need a second apply after every ALB re-creation.

data "aws_route53_zone" "this" {
  zone_id = var.route53_zone_id
}

resource "aws_acm_certificate" "this" {
  domain_name       = var.domain_name
  validation_method = "DNS"
  key_algorithm     = "RSA_2048" # served by every ALB TLS policy and client

  lifecycle {
    # A replaced certificate must be issued before the ALB listener lets go of the old one.
    create_before_destroy = true
  }

  # ACM checks CAA at issuance; ours (below) allows it even where the parent zone's CAA does not.
  depends_on = [aws_route53_record.caa]
}

# A check (a warning, not an error): a name outside the zone would leave validation pending forever.
check "domain_in_zone" {
  assert {
    condition     = endswith(".${var.domain_name}", ".${trimsuffix(data.aws_route53_zone.this.name, ".")}")
    error_message = "domain_name ${var.domain_name} is not inside the hosted zone ${data.aws_route53_zone.this.name}."
  }
}

# Keyed by the (known) domain name rather than by domain_validation_options, which is computed by
# the provider: for_each keys must be known at plan time.
resource "aws_route53_record" "cert_validation" {
  for_each = toset([var.domain_name])

  zone_id         = var.route53_zone_id
  name            = one([for o in aws_acm_certificate.this.domain_validation_options : o.resource_record_name if o.domain_name == each.key])
  type            = one([for o in aws_acm_certificate.this.domain_validation_options : o.resource_record_type if o.domain_name == each.key])
  records         = [one([for o in aws_acm_certificate.this.domain_validation_options : o.resource_record_value if o.domain_name == each.key])]
  ttl             = 300
  allow_overwrite = true # the validation CNAME is deterministic per domain; a re-create may find it there
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for r in aws_route53_record.cert_validation : r.fqdn]
}

# Only Amazon's CA may issue for the service name: a mis-issued certificate elsewhere is refused.
resource "aws_route53_record" "caa" {
  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "CAA"
  ttl     = 3600
  records = ["0 issue \"amazon.com\""]
}
