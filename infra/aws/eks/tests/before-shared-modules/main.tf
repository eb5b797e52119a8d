# infra/aws/eks's network and log key as they were before infra/modules/aws-network and
# infra/modules/aws-log-key (the stack's state at those addresses): tests/migration.tftest.hcl
# mock-applies them, then plans the stack on that state to show the moved blocks in network.tf and
# cluster.tf keep every object (tests/infra/test_aws_network_migration.py).

variable "name" {
  type = string
}
variable "region" {
  type = string
}
variable "vpc_cidr" {
  type = string
}
variable "azs" {
  type = list(string)
}
variable "nat_gateway_mode" {
  type = string
}
variable "enable_interface_endpoints" {
  type = bool
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

locals {
  azs = var.azs

  # Private /20s hold nodes *and* pods (Auto Mode gives pods VPC addresses), so they get the space;
  # public /24s hold only the ALB and the NAT gateways.
  private_subnet_cidrs = [for i in range(3) : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnet_cidrs  = [for i in range(3) : cidrsubnet(var.vpc_cidr, 8, 48 + i)]

  nat_count = var.nat_gateway_mode == "per_az" ? 3 : 1

  # Auto Mode and the load-balancing capability find subnets by these tags; the NodeClass in
  # deploy/eks selects nodes' subnets by `shipshape.io/subnet-tier = private`.
  cluster_tag = { "kubernetes.io/cluster/${var.name}" = "shared" }
  public_subnet_tags = {
    "kubernetes.io/role/elb"   = "1" # internet-facing ALBs go here
    "shipshape.io/subnet-tier" = "public"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1" # internal load balancers go here
    "shipshape.io/subnet-tier"        = "private"
  }
}

resource "aws_vpc" "this" {
  cidr_block = var.vpc_cidr
  # Both are needed for the interface endpoints' private DNS and for RDS/EKS endpoint names to resolve.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }
}

# The default security group admits everything from its own members; nothing uses it, so it is emptied.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-default-unused" }
}

resource "aws_subnet" "public" {
  count = 3

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.public_subnet_cidrs[count.index]
  # Nothing launched here needs an automatic public IP: the ALB and NAT get theirs explicitly.
  map_public_ip_on_launch = false

  tags = merge(local.cluster_tag, local.public_subnet_tags, {
    Name = "${var.name}-public-${local.azs[count.index]}"
  })
}

resource "aws_subnet" "private" {
  count = 3

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_subnet_cidrs[count.index]


  tags = merge(local.cluster_tag, local.private_subnet_tags, {
    Name = "${var.name}-private-${local.azs[count.index]}"
  })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = 3

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = { Name = "${var.name}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${var.name}-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

# One route table per private subnet, so switching nat_gateway_mode only changes routes.
resource "aws_route_table" "private" {
  count = 3

  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private-${local.azs[count.index]}" }
}

resource "aws_route" "private_nat" {
  count = 3

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.nat_gateway_mode == "per_az" ? count.index : 0].id
}

resource "aws_route_table_association" "private" {
  count = 3

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# ---------------------------------------------------------------------------------------------------
# VPC endpoints: ECR image layers come from S3, so the free S3 gateway endpoint removes most NAT
# traffic of image pulls; the ECR and STS interface endpoints remove the rest of the pull and the
# Pod Identity/STS token calls.
# ---------------------------------------------------------------------------------------------------
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = { Name = "${var.name}-s3" }
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-vpc-endpoints"
  description = "HTTPS from inside the VPC to the interface endpoints"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-vpc-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC (nodes and pods)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.this.cidr_block
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.enable_interface_endpoints ? toset(["ecr.api", "ecr.dkr", "sts"]) : toset([])

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = { Name = "${var.name}-${each.key}" }
}

# ---------------------------------------------------------------------------------------------------
# Flow logs: every accepted and rejected flow, to an encrypted log group, for incident forensics.
# ---------------------------------------------------------------------------------------------------
resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = var.flow_log_destination_arn
  iam_role_arn             = var.flow_log_iam_role_arn
  max_aggregation_interval = 60

  tags = { Name = var.name }
}

# ---- (cluster.tf, iam.tf) KMS key of the CloudWatch log groups --------------------------------------

locals {
  logs_kms_groups = [
    "/aws/eks/${var.name}/cluster",
    "/aws/vpc/${var.name}/flow-logs",
    "/aws/rds/instance/${var.name}-postgres/postgresql",
    "/aws/rds/instance/${var.name}-postgres/upgrade",
  ]
}

resource "aws_kms_key" "logs" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account root keeps administration so the key can never become unmanageable.
  #checkov:skip=CKV_AWS_111:Same: key policies are scoped to their key, and the root statement is AWS's required default.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  description             = "${var.name}: EKS control-plane and VPC flow log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUse"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = [for g in local.logs_kms_groups : "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${g}"]
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}
