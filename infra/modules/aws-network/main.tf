# One VPC for a stack: public subnets behind an internet gateway (optionally dual stack), optionally a
# private tier behind NAT, the S3 gateway endpoint, optional interface endpoints, the default security
# group emptied, and a flow log of every flow. infra/aws/vm and infra/aws/eks are made of it.

locals {
  prefix = tonumber(split("/", var.vpc_cidr)[1])
  azs    = var.availability_zones
  n      = length(var.availability_zones)

  # Address layout. Public subnets are /24s; with a private tier, the private subnets are the VPC's
  # first sixteenths (they hold nodes and pods) and the public /24s start at its fourth sixteenth, so
  # a third zone never moves anything. Without one, the public /24s are the VPC's first.
  private_subnet_cidrs = var.private_subnets ? [for i in range(local.n) : cidrsubnet(var.vpc_cidr, 4, i)] : []
  public_offset        = var.private_subnets ? 3 * pow(2, 20 - local.prefix) : 0
  public_subnet_cidrs  = [for i in range(local.n) : cidrsubnet(var.vpc_cidr, 24 - local.prefix, local.public_offset + i)]

  nat_count = var.private_subnets ? (var.nat_gateway_mode == "per_az" ? local.n : 1) : 0
}

resource "aws_vpc" "this" {
  cidr_block                       = var.vpc_cidr
  assign_generated_ipv6_cidr_block = var.enable_ipv6 ? true : null
  # Both are needed for the interface endpoints' private DNS and for RDS/EKS endpoint names to resolve.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }
}

# The default security group admits everything from its own members; nothing uses it, so it is emptied
# and nothing that lands in it by mistake is reachable.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-default-unused" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_subnet" "public" {
  count = local.n

  vpc_id                          = aws_vpc.this.id
  availability_zone               = local.azs[count.index]
  cidr_block                      = local.public_subnet_cidrs[count.index]
  ipv6_cidr_block                 = var.enable_ipv6 ? cidrsubnet(aws_vpc.this.ipv6_cidr_block, 8, count.index) : null
  assign_ipv6_address_on_creation = var.enable_ipv6 ? true : null
  # Nothing launched here gets a public IPv4 by default: an EIP, a load balancer, a NAT gateway or a
  # launch template asks for one explicitly.
  map_public_ip_on_launch = false

  tags = merge(var.public_subnet_tags, { Name = "${var.name}-public-${local.azs[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_ipv4" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route" "public_ipv6" {
  count = var.enable_ipv6 ? 1 : 0

  route_table_id              = aws_route_table.public.id
  destination_ipv6_cidr_block = "::/0"
  gateway_id                  = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = local.n

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# ---- private tier: subnets, NAT, one route table per subnet ----------------------------------------

resource "aws_subnet" "private" {
  count = var.private_subnets ? local.n : 0

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_subnet_cidrs[count.index]

  tags = merge(var.private_subnet_tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
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
  count = var.private_subnets ? local.n : 0

  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private-${local.azs[count.index]}" }
}

resource "aws_route" "private_nat" {
  count = var.private_subnets ? local.n : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.nat_gateway_mode == "per_az" ? count.index : 0].id
}

resource "aws_route_table_association" "private" {
  count = var.private_subnets ? local.n : 0

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# ---- VPC endpoints --------------------------------------------------------------------------------
# The S3 gateway endpoint is free and keeps regional S3 traffic (image layers, releases, package
# repositories) on AWS's network; interface endpoints (ECR, STS, ...) take the rest off the NAT.

resource "aws_vpc_endpoint" "s3" {
  #checkov:skip=CKV_AWS_356:Endpoint policy, not an identity's: the caller passes one that caps every principal's use of this path (infra/aws/vm: reads only), or keeps AWS's default where the buckets are not the stack's to name.
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_subnets ? aws_route_table.private[*].id : [aws_route_table.public.id]
  policy            = var.s3_endpoint_policy

  tags = { Name = "${var.name}-s3" }
}

resource "aws_security_group" "endpoints" {
  count = length(var.interface_endpoints) > 0 ? 1 : 0

  name        = "${var.name}-vpc-endpoints"
  description = "HTTPS from inside the VPC to the interface endpoints"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-vpc-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  count = length(var.interface_endpoints) > 0 ? 1 : 0

  security_group_id = aws_security_group.endpoints[0].id
  description       = "HTTPS from the VPC (nodes and pods)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = aws_vpc.this.cidr_block
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = { Name = "${var.name}-${each.key}" }
}

# ---- flow log: every accepted and rejected flow, for incident forensics ----------------------------

resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = var.flow_log_destination_arn
  iam_role_arn             = var.flow_log_iam_role_arn
  max_aggregation_interval = 60

  tags = { Name = var.name }
}
