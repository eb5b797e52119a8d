data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:local.azs takes the first two zones only, so a new zone never widens the stack; pinning zone names would tie the stack to one region.
  state = "available"

  # Local Zones / Wavelength zones lack most instance types; stay in the region's own AZs.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
}

# The shared network module (infra/modules/aws-network): a dual-stack VPC (the firewall opens 80/443
# to ::/0 as well, which only means something with IPv6), two public /24s (the VPC's first) with
# IPv4+IPv6 default routes, the S3 gateway endpoint, the default security group emptied, and the
# flow log of every flow to this stack's log group (monitoring.tf) with its role (security.tf).
module "network" {
  source = "../../modules/aws-network"

  name               = var.name
  region             = local.region
  vpc_cidr           = var.vpc_cidr
  availability_zones = local.azs
  enable_ipv6        = true

  # Regional S3 traffic (the release pointer and binaries, Amazon Linux package repositories) stays on
  # AWS's network, read-only: nothing can be written to any bucket by this path. The instances read
  # releases with their own role (security.tf), so the release bucket needs no endpoint-specific grant
  # and the first apply works in one pass.
  s3_endpoint_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReadOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject", "s3:ListBucket"]
      Resource  = "*"
    }]
  })

  flow_log_destination_arn = aws_cloudwatch_log_group.flow_logs.arn
  flow_log_iam_role_arn    = aws_iam_role.flow_logs.arn
}

# State written before the module existed: the same objects under their module addresses (nothing is
# re-created). The flow log's Name tag becomes the VPC's name, as in infra/aws/eks.
moved {
  from = aws_vpc.main
  to   = module.network.aws_vpc.this
}
moved {
  from = aws_internet_gateway.main
  to   = module.network.aws_internet_gateway.this
}
moved {
  from = aws_subnet.public
  to   = module.network.aws_subnet.public
}
moved {
  from = aws_route_table.public
  to   = module.network.aws_route_table.public
}
moved {
  from = aws_route.public_ipv4
  to   = module.network.aws_route.public_ipv4
}
moved {
  from = aws_route.public_ipv6
  to   = module.network.aws_route.public_ipv6[0]
}
moved {
  from = aws_route_table_association.public
  to   = module.network.aws_route_table_association.public
}
moved {
  from = aws_flow_log.vpc
  to   = module.network.aws_flow_log.this
}
moved {
  from = aws_vpc_endpoint.s3
  to   = module.network.aws_vpc_endpoint.s3
}
moved {
  from = aws_default_security_group.default
  to   = module.network.aws_default_security_group.this
}
