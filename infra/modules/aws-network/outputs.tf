output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's IPv4 CIDR (var.vpc_cidr)."
  value       = aws_vpc.this.cidr_block
}

output "vpc_ipv6_cidr_block" {
  description = "The VPC's Amazon-provided IPv6 /56 (enable_ipv6); null without IPv6."
  value       = var.enable_ipv6 ? aws_vpc.this.ipv6_cidr_block : null
}

output "default_network_acl_id" {
  description = "The VPC's default network ACL, for a caller that manages it (infra/aws/vm makes it deny-all)."
  value       = aws_vpc.this.default_network_acl_id
}

output "availability_zones" {
  description = "The AZs of the subnets, in subnet order."
  value       = var.availability_zones
}

output "internet_gateway_id" {
  description = "The internet gateway."
  value       = aws_internet_gateway.this.id
}

output "public_subnet_ids" {
  description = "Public subnets, one per AZ in availability_zones order."
  value       = aws_subnet.public[*].id
}

output "public_subnet_cidrs" {
  description = "IPv4 CIDRs of the public subnets (known at plan time)."
  value       = local.public_subnet_cidrs
}

output "private_subnet_ids" {
  description = "Private subnets, one per AZ in availability_zones order; empty without private_subnets."
  value       = aws_subnet.private[*].id
}

output "private_subnet_cidrs" {
  description = "IPv4 CIDRs of the private subnets (known at plan time); empty without private_subnets."
  value       = local.private_subnet_cidrs
}

output "public_route_table_id" {
  description = "The public subnets' route table (default routes to the internet gateway)."
  value       = aws_route_table.public.id
}

output "private_route_table_ids" {
  description = "The private subnets' route tables, one per subnet (default route to a NAT gateway)."
  value       = aws_route_table.private[*].id
}

output "nat_gateway_ids" {
  description = "NAT gateways: one, or one per AZ (nat_gateway_mode); empty without private_subnets."
  value       = aws_nat_gateway.this[*].id
}

output "s3_endpoint_id" {
  description = "The S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}

output "interface_endpoint_ids" {
  description = "Interface endpoints by service (interface_endpoints)."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.id }
}

output "endpoint_security_group_id" {
  description = "The interface endpoints' security group (HTTPS from the VPC); null without interface endpoints."
  value       = one(aws_security_group.endpoints[*].id)
}

output "flow_log_id" {
  description = "The VPC flow log."
  value       = aws_flow_log.this.id
}
