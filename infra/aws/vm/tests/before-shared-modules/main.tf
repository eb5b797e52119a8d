# infra/aws/vm's network and log key as they were before infra/modules/aws-network and
# infra/modules/aws-log-key, and the ALB's inbound rules as they were before they became one table
# (the stack's state at those addresses): tests/vm.tftest.hcl mock-applies them, then plans the stack
# on that state to show the moved blocks in network.tf and security.tf keep every object
# (tests/infra/test_aws_network_migration.py).

variable "name" {
  type = string
}
variable "vpc_cidr" {
  type = string
}
variable "region" {
  type = string
}
variable "azs" {
  type = list(string)
}
variable "flow_log_destination_arn" {
  type = string
}
variable "flow_log_iam_role_arn" {
  type = string
}
variable "account_id" {
  type = string
}
variable "partition" {
  type = string
}
variable "enable_scaling" {
  type    = bool
  default = false
}

# (security.tf)
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-default-unused" }
}

# Dual stack: the firewall opens 80/443 to ::/0 as well, which only means something with IPv6.
resource "aws_vpc" "main" {
  cidr_block                       = var.vpc_cidr
  assign_generated_ipv6_cidr_block = true
  enable_dns_support               = true
  enable_dns_hostnames             = true

  tags = { Name = var.name }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = var.name }
}

resource "aws_subnet" "public" {
  count = 2

  vpc_id                          = aws_vpc.main.id
  availability_zone               = var.azs[count.index]
  cidr_block                      = cidrsubnet(var.vpc_cidr, 24 - tonumber(split("/", var.vpc_cidr)[1]), count.index)
  ipv6_cidr_block                 = cidrsubnet(aws_vpc.main.ipv6_cidr_block, 8, count.index)
  assign_ipv6_address_on_creation = true
  # The single VM gets an Elastic IP; ASG instances ask for a public IPv4 in the launch template.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${var.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_ipv4" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.main.id
}

resource "aws_route" "public_ipv6" {
  route_table_id              = aws_route_table.public.id
  destination_ipv6_cidr_block = "::/0"
  gateway_id                  = aws_internet_gateway.main.id
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# ---- VPC flow logs (all traffic, accepted and rejected) -------------------------------------------

resource "aws_flow_log" "vpc" {
  vpc_id                   = aws_vpc.main.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = var.flow_log_destination_arn
  iam_role_arn             = var.flow_log_iam_role_arn
  max_aggregation_interval = 60

  tags = { Name = "${var.name}-vpc" }
}

# ---- S3 gateway endpoint --------------------------------------------------------------------------
# Regional S3 traffic (the release pointer and binaries, Amazon Linux package repositories) stays on
# AWS's network. The instances read releases with their own role (security.tf), so the release bucket
# needs no endpoint-specific grant and the first apply works in one pass.
resource "aws_vpc_endpoint" "s3" {
  #checkov:skip=CKV_AWS_356:Endpoint policy, not an identity's: it caps every principal's use of this path to reads; the buckets read (release bucket, Amazon Linux repositories, agent updates) are not all this stack's to name.
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public.id]
  # Read-only through the endpoint: nothing can be written to any bucket by this path.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReadOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject", "s3:ListBucket"]
      Resource  = "*"
    }]
  })

  tags = { Name = "${var.name}-s3" }
}

# ---- (security.tf) KMS key for every log group of the stack ---------------------------------------

resource "aws_kms_key" "logs" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account root keeps administration so the key can never become unmanageable.
  #checkov:skip=CKV_AWS_111:Same: key policies are scoped to their key, and the root statement is AWS's required default.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  description             = "shipshape ${var.name}: CloudWatch log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUsesKey"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/shipshape/${var.name}/*",
              "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:aws-waf-logs-${var.name}*",
            ]
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-vm-logs"
  target_key_id = aws_kms_key.logs.key_id
}

# ---- (security.tf) load balancer firewall (enable_scaling) ------------------------------------------

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:The state before the rules' table only; the stack attaches this group to its ALB.
  count = var.enable_scaling ? 1 : 0

  name_prefix = "${var.name}-alb-"
  description = "shipshape ALB: HTTP/HTTPS from everywhere, to the instances on 80"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_ipv4" {
  #checkov:skip=CKV_AWS_260:Port 80 on the ALB only answers with a redirect to HTTPS.
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from everywhere (IPv4), redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_ipv6" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from everywhere (IPv6), redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_ipv4" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS from everywhere (IPv4)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_ipv6" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS from everywhere (IPv6)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = "::/0"
}
