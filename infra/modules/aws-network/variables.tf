variable "name" {
  description = "Name prefix of every resource (the VPC and internet gateway are called exactly this)."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the VPC (the provider's), for the VPC endpoints' service names."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /22 (/16 to /20 with private subnets). Public subnets are /24s; private subnets are sixteenths of the VPC (a /20 of a /16)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(tonumber(split("/", var.vpc_cidr)[1])) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 22, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix between /16 and /22."
  }
  validation {
    condition     = !var.private_subnets || try(tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "With private subnets vpc_cidr must be /16 to /20 (the private subnets are its sixteenths, the public /24s follow them)."
  }
}

variable "availability_zones" {
  description = "The AZ names the subnets go to, one public (and one private) subnet each, in this order; 2 or 3 of them. Changing the list re-creates the subnets of the zones that move."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must name 2 or 3 distinct zones."
  }
}

variable "enable_ipv6" {
  description = "Dual stack: an Amazon-provided IPv6 /56 for the VPC, a /64 per public subnet (addresses assigned on creation) and a ::/0 route to the internet gateway."
  type        = bool
  default     = false

  validation {
    # The private tier reaches the internet through NAT, which is IPv4 only; IPv6 there would need an egress-only gateway.
    condition     = !(var.enable_ipv6 && var.private_subnets)
    error_message = "enable_ipv6 is for public-only networks; private subnets are IPv4 only (NAT)."
  }
}

variable "private_subnets" {
  description = "A private subnet per AZ, each with its own route table and a default route to a NAT gateway (see nat_gateway_mode). Decides the address layout: choose it when the VPC is created."
  type        = bool
  default     = false
}

variable "nat_gateway_mode" {
  description = "With private subnets: \"single\" NAT gateway for all AZs (cheaper; an AZ outage cuts egress of the others) or one \"per_az\"."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be \"single\" or \"per_az\"."
  }
}

variable "public_subnet_tags" {
  description = "Extra tags of the public subnets (e.g. the load balancer discovery tags); Name is the module's."
  type        = map(string)
  default     = {}
}

variable "private_subnet_tags" {
  description = "Extra tags of the private subnets; Name is the module's."
  type        = map(string)
  default     = {}
}

variable "s3_endpoint_policy" {
  description = "Policy (JSON) of the S3 gateway endpoint; null leaves AWS's default (full access). The endpoint serves the private route tables, or the public one in a network without private subnets."
  type        = string
  default     = null

  validation {
    condition     = var.s3_endpoint_policy == null || can(jsondecode(var.s3_endpoint_policy).Statement)
    error_message = "s3_endpoint_policy must be null or a JSON policy document with a Statement."
  }
}

variable "interface_endpoints" {
  description = "Services (the part after com.amazonaws.<region>., e.g. \"ecr.api\", \"sts\") that get an interface endpoint with private DNS in every private subnet, behind one security group admitting HTTPS from the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.interface_endpoints : can(regex("^[a-z0-9][a-z0-9.-]*[a-z0-9]$", s))]) && length(distinct(var.interface_endpoints)) == length(var.interface_endpoints)
    error_message = "interface_endpoints must be distinct service names such as \"ecr.api\" or \"sts\"."
  }
  validation {
    condition     = length(var.interface_endpoints) == 0 || var.private_subnets
    error_message = "interface_endpoints need private subnets to live in."
  }
}

variable "flow_log_destination_arn" {
  description = "ARN of the CloudWatch Logs group that receives the VPC flow log (every accepted and rejected flow, 60 s aggregation). The caller owns the group (retention, KMS key)."
  type        = string
}

variable "flow_log_iam_role_arn" {
  description = "ARN of the role the VPC Flow Logs service assumes to write to flow_log_destination_arn."
  type        = string
}
