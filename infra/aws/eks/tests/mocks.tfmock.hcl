# Account facts and the computed attributes of infra/aws/eks that its tests read, so planned and
# mock-applied values are real (tests/plan.tftest.hcl, tests/regions.tftest.hcl).

mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012" }
}
mock_data "aws_partition" {
  defaults = { partition = "aws" }
}
mock_data "aws_availability_zones" {
  defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
}
mock_data "aws_route53_zone" {
  defaults = { name = "example.com." }
}
mock_data "aws_eks_addon_version" {
  defaults = { version = "v0.8.0-eksbuild.5" }
}
mock_resource "aws_db_instance" {
  defaults = {
    address            = "shipshape-postgres.abcdefghijkl.us-east-1.rds.amazonaws.com"
    port               = 5432
    master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123-abcdef", kms_key_id = "k", secret_status = "active" }]
    ca_cert_identifier = "rds-ca-rsa2048-g1"
  }
}
mock_resource "aws_eks_cluster" {
  defaults = {
    arn = "arn:aws:eks:us-east-1:123456789012:cluster/shipshape"
    vpc_config = {
      cluster_security_group_id = "sg-0cluster0000000000"
      vpc_id                    = "vpc-0123"
    }
  }
}
mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    domain_validation_options = [{
      domain_name           = "shipshape.example.com"
      resource_record_name  = "_x.shipshape.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_y.acm-validations.aws."
    }]
  }
}
mock_resource "aws_acm_certificate_validation" {
  defaults = { certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789" }
}
mock_resource "aws_prometheus_scraper" {
  defaults = { role_arn = "arn:aws:iam::123456789012:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_abc" }
}
mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
}
mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/x-AbCdEf" }
}

# Each role's ARN from its name, as IAM makes it: tests/infra/test_aws_stacks_iam.py evaluates what the
# bootstrap's apply role may do with each of them (create, pass to a service).
override_resource {
  target = aws_iam_role.cluster
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-eks-cluster" }
}
override_resource {
  target = aws_iam_role.node
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-eks-node" }
}
override_resource {
  target = aws_iam_role.external_secrets
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-external-secrets" }
}
override_resource {
  target = aws_iam_role.external_dns
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-external-dns" }
}
override_resource {
  target = aws_iam_role.flow_logs
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs" }
}
override_resource {
  target = aws_iam_role.rds_monitoring
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-rds-monitoring" }
}

# Distinct ARNs for the two login secrets (mock defaults would give both the same).
override_resource {
  target = aws_secretsmanager_secret.db_role["app"]
  values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/app-AbCdEf" }
}
override_resource {
  target = aws_secretsmanager_secret.db_role["owner"]
  values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/owner-GhIjKl" }
}
