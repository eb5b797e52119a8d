# The AZs are named, not "the first three available": a list that shifts when a zone is impaired or
# added would re-create subnets (and everything in them). The data source only proves they exist.
data "aws_availability_zones" "selected" {
  filter {
    name   = "zone-name"
    values = local.azs
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == 3
      error_message = "Not all of ${join(", ", local.azs)} exist in this account and region; set availability_zone_suffixes."
    }
  }
}

locals {
  azs = [for suffix in var.availability_zone_suffixes : "${var.region}${suffix}"]

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

# The shared network module (infra/modules/aws-network): a private tier of /20s (nodes *and* pods:
# Auto Mode gives pods VPC addresses) behind NAT, public /24s for the ALB and the NAT gateways, the S3
# gateway endpoint on the private route tables (ECR image layers come from S3, so it removes most NAT
# traffic of image pulls), the ECR and STS interface endpoints (the rest of the pull and the Pod
# Identity/STS token calls), the default security group emptied, and the flow log of every flow to the
# encrypted log group below (incident forensics) with its role (iam.tf).
module "network" {
  source = "../../modules/aws-network"

  name                = var.name
  region              = var.region
  vpc_cidr            = var.vpc_cidr
  availability_zones  = local.azs
  private_subnets     = true
  nat_gateway_mode    = var.nat_gateway_mode
  interface_endpoints = var.enable_interface_endpoints ? ["ecr.api", "ecr.dkr", "sts"] : []
  public_subnet_tags  = merge(local.cluster_tag, local.public_subnet_tags)
  private_subnet_tags = merge(local.cluster_tag, local.private_subnet_tags)

  flow_log_destination_arn = aws_cloudwatch_log_group.flow_logs.arn
  flow_log_iam_role_arn    = aws_iam_role.flow_logs.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = local.flow_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

# State written before the module existed: the same objects under their module addresses (nothing is
# re-created). The public default route is called public_ipv4, as in infra/aws/vm.
moved {
  from = aws_vpc.this
  to   = module.network.aws_vpc.this
}
moved {
  from = aws_default_security_group.this
  to   = module.network.aws_default_security_group.this
}
moved {
  from = aws_subnet.public
  to   = module.network.aws_subnet.public
}
moved {
  from = aws_subnet.private
  to   = module.network.aws_subnet.private
}
moved {
  from = aws_internet_gateway.this
  to   = module.network.aws_internet_gateway.this
}
moved {
  from = aws_route_table.public
  to   = module.network.aws_route_table.public
}
moved {
  from = aws_route.public_internet
  to   = module.network.aws_route.public_ipv4
}
moved {
  from = aws_route_table_association.public
  to   = module.network.aws_route_table_association.public
}
moved {
  from = aws_eip.nat
  to   = module.network.aws_eip.nat
}
moved {
  from = aws_nat_gateway.this
  to   = module.network.aws_nat_gateway.this
}
moved {
  from = aws_route_table.private
  to   = module.network.aws_route_table.private
}
moved {
  from = aws_route.private_nat
  to   = module.network.aws_route.private_nat
}
moved {
  from = aws_route_table_association.private
  to   = module.network.aws_route_table_association.private
}
moved {
  from = aws_vpc_endpoint.s3
  to   = module.network.aws_vpc_endpoint.s3
}
moved {
  from = aws_security_group.endpoints
  to   = module.network.aws_security_group.endpoints[0]
}
moved {
  from = aws_vpc_security_group_ingress_rule.endpoints_https
  to   = module.network.aws_vpc_security_group_ingress_rule.endpoints_https[0]
}
moved {
  from = aws_vpc_endpoint.interface
  to   = module.network.aws_vpc_endpoint.interface
}
moved {
  from = aws_flow_log.this
  to   = module.network.aws_flow_log.this
}
