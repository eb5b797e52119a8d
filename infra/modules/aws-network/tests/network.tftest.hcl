# Planned values of the two shapes the stacks use: a dual-stack public-only network (infra/aws/vm)
# and a private tier behind NAT with interface endpoints (infra/aws/eks), mock-applied so that ids
# are known and references between resources can be compared; and the validations.

mock_provider "aws" {
  override_resource {
    target = aws_vpc.this
    values = { id = "vpc-0123456789abcdef0", ipv6_cidr_block = "2600:1f18:1234:5600::/56" }
  }
}

variables {
  name                     = "example"
  region                   = "eu-west-1"
  vpc_cidr                 = "10.40.0.0/16"
  availability_zones       = ["eu-west-1a", "eu-west-1b"]
  flow_log_destination_arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/example/vpc-flow-logs"
  flow_log_iam_role_arn    = "arn:aws:iam::123456789012:role/example-flowlogs"
}

run "public_dual_stack" {
  command = apply

  variables {
    enable_ipv6        = true
    s3_endpoint_policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Principal = "*", Action = ["s3:GetObject"], Resource = "*" }] })
  }

  assert {
    condition     = aws_vpc.this.cidr_block == "10.40.0.0/16" && aws_vpc.this.assign_generated_ipv6_cidr_block && aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames && aws_vpc.this.tags.Name == "example"
    error_message = "a dual-stack VPC with DNS, named after the network"
  }
  assert {
    condition     = aws_subnet.public[*].cidr_block == ["10.40.0.0/24", "10.40.1.0/24"] && output.public_subnet_cidrs == ["10.40.0.0/24", "10.40.1.0/24"]
    error_message = "without a private tier the public subnets are the VPC's first /24s: ${jsonencode(aws_subnet.public[*].cidr_block)}"
  }
  assert {
    condition     = aws_subnet.public[*].ipv6_cidr_block == ["2600:1f18:1234:5600::/64", "2600:1f18:1234:5601::/64"] && alltrue(aws_subnet.public[*].assign_ipv6_address_on_creation)
    error_message = "each public subnet gets a /64 of the VPC's /56 and assigns IPv6 addresses"
  }
  assert {
    condition     = aws_subnet.public[*].availability_zone == ["eu-west-1a", "eu-west-1b"] && aws_subnet.public[*].tags.Name == ["example-public-eu-west-1a", "example-public-eu-west-1b"]
    error_message = "one public subnet per zone, in order, named after it"
  }
  assert {
    condition     = !anytrue(aws_subnet.public[*].map_public_ip_on_launch)
    error_message = "no automatic public IPv4"
  }
  assert {
    condition     = aws_route.public_ipv4.destination_cidr_block == "0.0.0.0/0" && aws_route.public_ipv6[0].destination_ipv6_cidr_block == "::/0" && aws_route.public_ipv4.gateway_id == aws_internet_gateway.this.id && aws_route.public_ipv6[0].gateway_id == aws_internet_gateway.this.id
    error_message = "IPv4 and IPv6 default routes to the internet gateway"
  }
  assert {
    condition     = length(aws_route_table_association.public) == 2 && alltrue([for a in aws_route_table_association.public : a.route_table_id == aws_route_table.public.id])
    error_message = "both public subnets use the public route table"
  }
  assert {
    condition     = length(aws_subnet.private) == 0 && length(aws_nat_gateway.this) == 0 && length(aws_eip.nat) == 0 && length(aws_route_table.private) == 0 && output.private_subnet_ids == []
    error_message = "no private tier, no NAT"
  }
  assert {
    condition     = aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3" && aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.route_table_ids == toset([aws_route_table.public.id])
    error_message = "the S3 gateway endpoint serves the public route table"
  }
  assert {
    condition     = jsondecode(aws_vpc_endpoint.s3.policy).Statement[0].Action == ["s3:GetObject"]
    error_message = "the S3 endpoint carries the caller's policy"
  }
  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_security_group.endpoints) == 0 && output.endpoint_security_group_id == null
    error_message = "no interface endpoints, and no security group for them"
  }
  assert {
    condition     = aws_default_security_group.this.vpc_id == aws_vpc.this.id && length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group is emptied"
  }
  assert {
    condition = (
      aws_flow_log.this.vpc_id == aws_vpc.this.id && aws_flow_log.this.traffic_type == "ALL" &&
      aws_flow_log.this.log_destination_type == "cloud-watch-logs" && aws_flow_log.this.log_destination == var.flow_log_destination_arn &&
      aws_flow_log.this.iam_role_arn == var.flow_log_iam_role_arn && aws_flow_log.this.max_aggregation_interval == 60
    )
    error_message = "every flow of the VPC goes to the caller's log group with the caller's role"
  }
  assert {
    condition     = output.vpc_id == "vpc-0123456789abcdef0" && output.vpc_ipv6_cidr_block == "2600:1f18:1234:5600::/56"
    error_message = "outputs name the VPC and its IPv6 range"
  }
}

run "private_tier_with_nat_and_endpoints" {
  command = apply
  # A network of its own (not the first run's VPC changed).
  state_key = "private"

  variables {
    availability_zones  = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    private_subnets     = true
    interface_endpoints = ["ecr.api", "ecr.dkr", "sts"]
    public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
    private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }
  }

  assert {
    condition     = aws_vpc.this.assign_generated_ipv6_cidr_block == null && alltrue([for s in aws_subnet.public : s.ipv6_cidr_block == null]) && length(aws_route.public_ipv6) == 0
    error_message = "IPv4 only"
  }
  assert {
    condition     = output.private_subnet_cidrs == tolist(aws_subnet.private[*].cidr_block) && output.private_subnet_cidrs == tolist(["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"])
    error_message = "private subnets are the VPC's first sixteenths: ${jsonencode(aws_subnet.private[*].cidr_block)}"
  }
  assert {
    condition     = aws_subnet.public[*].cidr_block == ["10.40.48.0/24", "10.40.49.0/24", "10.40.50.0/24"]
    error_message = "public /24s start at the fourth sixteenth: ${jsonencode(aws_subnet.public[*].cidr_block)}"
  }
  assert {
    condition = (
      aws_subnet.public[0].tags == tomap({ "kubernetes.io/role/elb" = "1", Name = "example-public-eu-west-1a" }) &&
      aws_subnet.private[2].tags == tomap({ "kubernetes.io/role/internal-elb" = "1", Name = "example-private-eu-west-1c" })
    )
    error_message = "each tier carries its own extra tags and the module's Name"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_nat_gateway.this[0].subnet_id == aws_subnet.public[0].id && aws_nat_gateway.this[0].allocation_id == aws_eip.nat[0].id
    error_message = "single mode: one NAT gateway in the first public subnet with its own EIP"
  }
  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.destination_cidr_block == "0.0.0.0/0" && r.nat_gateway_id == aws_nat_gateway.this[0].id])
    error_message = "every private route table's default route goes to the one NAT gateway"
  }
  assert {
    condition     = [for a in aws_route_table_association.private : a.route_table_id] == aws_route_table.private[*].id && [for a in aws_route_table_association.private : a.subnet_id] == aws_subnet.private[*].id
    error_message = "each private subnet has its own route table"
  }
  assert {
    condition     = aws_vpc_endpoint.s3.route_table_ids == toset(aws_route_table.private[*].id)
    error_message = "the S3 gateway endpoint serves the private route tables"
  }
  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "sts"]) && aws_vpc_endpoint.interface["ecr.dkr"].service_name == "com.amazonaws.eu-west-1.ecr.dkr"
    error_message = "one interface endpoint per service"
  }
  assert {
    condition = alltrue([for e in aws_vpc_endpoint.interface :
      e.vpc_endpoint_type == "Interface" && e.private_dns_enabled && e.subnet_ids == toset(aws_subnet.private[*].id) && e.security_group_ids == toset([aws_security_group.endpoints[0].id])
    ])
    error_message = "interface endpoints with private DNS in every private subnet, behind the endpoints' group"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoints_https[0].security_group_id == aws_security_group.endpoints[0].id &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].cidr_ipv4 == "10.40.0.0/16" &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https[0].to_port == 443
    )
    error_message = "the endpoints admit HTTPS from the VPC only"
  }
}

run "nat_per_az" {
  command   = apply
  state_key = "private"

  variables {
    availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    private_subnets    = true
    nat_gateway_mode   = "per_az"
  }

  assert {
    condition     = aws_nat_gateway.this[*].subnet_id == aws_subnet.public[*].id && aws_nat_gateway.this[*].tags.Name == ["example-eu-west-1a", "example-eu-west-1b", "example-eu-west-1c"]
    error_message = "one NAT gateway in each public subnet"
  }
  assert {
    condition     = [for r in aws_route.private_nat : r.nat_gateway_id] == aws_nat_gateway.this[*].id
    error_message = "each private route table uses its own zone's NAT gateway"
  }
}

run "small_vpc_with_private_tier" {
  command = plan

  variables {
    vpc_cidr        = "10.8.0.0/20"
    private_subnets = true
  }

  assert {
    condition     = aws_subnet.private[*].cidr_block == ["10.8.0.0/24", "10.8.1.0/24"] && aws_subnet.public[*].cidr_block == ["10.8.3.0/24", "10.8.4.0/24"]
    error_message = "the layout scales with the VPC: ${jsonencode(aws_subnet.private[*].cidr_block)} ${jsonencode(aws_subnet.public[*].cidr_block)}"
  }
}

run "one_zone_refused" {
  command = plan
  variables {
    availability_zones = ["eu-west-1a"]
  }
  expect_failures = [var.availability_zones]
}

run "four_zones_refused" {
  command = plan
  variables {
    availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]
  }
  expect_failures = [var.availability_zones]
}

run "too_small_vpc_for_a_private_tier_refused" {
  command = plan
  variables {
    vpc_cidr        = "10.8.0.0/22"
    private_subnets = true
  }
  expect_failures = [var.vpc_cidr]
}

run "bad_cidr_refused" {
  command = plan
  variables {
    vpc_cidr = "10.8.0.0/8"
  }
  expect_failures = [var.vpc_cidr]
}

run "ipv6_with_private_tier_refused" {
  command = plan
  variables {
    private_subnets = true
    enable_ipv6     = true
  }
  expect_failures = [var.enable_ipv6]
}

run "interface_endpoints_without_private_tier_refused" {
  command = plan
  variables {
    interface_endpoints = ["sts"]
  }
  expect_failures = [var.interface_endpoints]
}

run "unknown_nat_mode_refused" {
  command = plan
  variables {
    private_subnets  = true
    nat_gateway_mode = "none"
  }
  expect_failures = [var.nat_gateway_mode]
}

run "s3_endpoint_policy_must_be_a_policy" {
  command = plan
  variables {
    s3_endpoint_policy = "read-only"
  }
  expect_failures = [var.s3_endpoint_policy]
}
