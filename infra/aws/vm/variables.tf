variable "region" {
  description = "AWS region to deploy into. Must be the bootstrap's region (its release bucket, signing key and CI roles live there): a plan fails otherwise."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "name" {
  description = "Name prefix of every resource of this stack (also the deploy target group)."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}[a-z0-9]$", var.name))
    error_message = "name must be 3-22 characters of lowercase letters, digits and dashes."
  }
}

variable "stack_permissions_boundary_arn" {
  description = "The bootstrap's output stack_permissions_boundary_arn (<bootstrap name>-ci-stack-boundary). Every IAM role of this stack carries it as its permissions boundary: the apply role may create or change a role only with it. The stack's name must be the bootstrap's name or start with it and a dash, so the roles fall under the \"<bootstrap name>-*\" names the apply role manages."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[a-z][a-z0-9-]*-ci-stack-boundary$", var.stack_permissions_boundary_arn))
    error_message = "stack_permissions_boundary_arn must be the bootstrap's policy ARN arn:aws:iam::<account>:policy/<name>-ci-stack-boundary."
  }
  validation {
    # "<bootstrap name>-ci-*" is the pipeline's own identity, which no CI role may write.
    condition = (
      startswith("${var.name}-", "${try(regex("policy/(.*)-ci-stack-boundary$", var.stack_permissions_boundary_arn)[0], "")}-") &&
      !startswith("${var.name}-", "${try(regex("policy/(.*)-ci-stack-boundary$", var.stack_permissions_boundary_arn)[0], "")}-ci-")
    )
    error_message = "name must be the bootstrap's name (the part of stack_permissions_boundary_arn before -ci-stack-boundary) or start with it and a dash, and must not start with <bootstrap name>-ci-: the apply role creates only roles named <bootstrap name>-*."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Project, ManagedBy and Stack are always set and win)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC. The two public subnets are its first two /24s. The firewall's 'internal' rules open all TCP/UDP from this range."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 22
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix between /16 and /22."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the VM (and of the auto scaling group's instances)."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.micro."
  }
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter that holds the current AMI id. Default: Amazon Linux 2023 (x86_64), which ships the SSM agent that Session Manager and the deploy path need; /aws/service/debian/release/12/latest/amd64 works too once the agent is installed (README)."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/aws/service/")
    error_message = "ami_ssm_parameter must be one of AWS's public parameters (/aws/service/...)."
  }
}

variable "ami_owners" {
  description = "Owners allowed for the AMI found through ami_ssm_parameter (\"amazon\" for Amazon Linux, 136693071363 for Debian). Guards against a parameter that points at someone else's image."
  type        = list(string)
  default     = ["amazon"]

  validation {
    condition     = length(var.ami_owners) > 0 && alltrue([for o in var.ami_owners : can(regex("^([0-9]{12}|amazon)$", o))])
    error_message = "ami_owners must be 12-digit account ids (or \"amazon\")."
  }
}

variable "root_volume_size" {
  description = "Size of the encrypted gp3 root volume, GiB."
  type        = number
  default     = 8

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 200
    error_message = "root_volume_size must be between 8 and 200 GiB."
  }
}

variable "key_name" {
  description = "Optional EC2 key pair for break-glass SSH (port 22 is open only from 104.154.0.0/15). Day-to-day access is SSM Session Manager, so the default is none."
  type        = string
  default     = null
}

variable "release_bucket" {
  description = "The release bucket (infra/aws/bootstrap output release_bucket). The instances read <release_prefix>current.json and <release_prefix>releases/<version>/ from it with their own role; it must be in var.region."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.release_bucket))
    error_message = "release_bucket must be an S3 bucket name."
  }
}

variable "release_prefix" {
  description = "Key prefix of the release pointer and releases in release_bucket (bootstrap output release_prefix)."
  type        = string
  default     = "shipshape/"

  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+/)*$", var.release_prefix))
    error_message = "release_prefix must be empty or path segments ending in '/'."
  }
}

variable "release_signing_key" {
  description = "The KMS key releases are signed with (ECC_NIST_P256, SIGN_VERIFY; bootstrap's cosign key): id, ARN or alias/... Its public key goes into the boot configuration; the instances refuse a binary whose signature does not verify."
  type        = string
  default     = "alias/shipshape-cosign"

  validation {
    condition     = can(regex("^(alias/[A-Za-z0-9/_-]+|[0-9a-f-]{36}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+)$", var.release_signing_key))
    error_message = "release_signing_key must be a KMS key id, key ARN, alias/NAME or alias ARN."
  }
}

variable "data_volume_size" {
  description = "Size (GiB) of the encrypted gp3 data volume of the single VM, which holds the SQLite database and outlives VM replacements. Not used with enable_scaling (see README: scaling mode serves /hello only)."
  type        = number
  default     = 8

  validation {
    condition     = var.data_volume_size >= 1 && var.data_volume_size <= 1024 && floor(var.data_volume_size) == var.data_volume_size
    error_message = "data_volume_size must be a whole number of GiB between 1 and 1024."
  }
}

variable "environment" {
  description = "Extra environment for the service (/etc/shipshape/shipshape.env), merged over the defaults (LOG_FORMAT=json, DATABASE_URL=sqlite:///var/lib/shipshape/shipshape.db on the data volume)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "environment keys must be upper-case shell variable names."
  }
}

variable "enable_cloudwatch_agent" {
  description = "Install the CloudWatch agent on the instances and ship the unit's journal (and memory/disk metrics) to CloudWatch."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group of the stack (application journal, VPC flow logs, WAF, deploy commands)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic that receives the alarms (and their recovery). Empty: the alarms exist but notify no one."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be empty or an SNS topic ARN."
  }
}

# ---- scalability configuration -------------------------------------------------------------------

variable "enable_scaling" {
  description = "false: one VM with an Elastic IP and a data volume. true: launch template + auto scaling group across both AZs behind an HTTPS ALB instead; then the ALB serves /hello and answers the users API (/api/...) with a 501 JSON error, since the instances have no shared database (README)."
  type        = bool
  default     = false
}

variable "certificate_arn" {
  description = "ACM certificate for the ALB's HTTPS listener (required when enable_scaling = true)."
  type        = string
  default     = ""

  validation {
    condition     = var.certificate_arn == "" ? !var.enable_scaling : can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN, and is required when enable_scaling = true."
  }
}

variable "public_hostname" {
  description = "DNS name (covered by certificate_arn) that points at the ALB; only used to print the url output. Empty: the ALB's own DNS name."
  type        = string
  default     = ""

  validation {
    condition     = var.public_hostname == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.public_hostname))
    error_message = "public_hostname must be empty or a DNS name."
  }
}

variable "asg_min_size" {
  description = "Minimum number of instances of the auto scaling group (2 keeps one per AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.asg_min_size >= 1
    error_message = "asg_min_size must be at least 1."
  }
}

variable "asg_max_size" {
  description = "Maximum number of instances of the auto scaling group."
  type        = number
  default     = 6

  validation {
    condition     = var.asg_max_size >= var.asg_min_size && var.asg_max_size <= 50
    error_message = "asg_max_size must be between asg_min_size and 50."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the target-tracking policy keeps the auto scaling group at."
  type        = number
  default     = 50

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "enable_waf" {
  description = "Attach a WAFv2 web ACL with AWS managed rule groups (common rule set, known bad inputs, IP reputation) to the ALB. Only used when enable_scaling = true."
  type        = bool
  default     = true
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the ALB. Set false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "Existing S3 bucket (SSE-S3, with the ELB log delivery bucket policy) for ALB access logs. Empty: no access logs."
  type        = string
  default     = ""

  validation {
    condition     = var.alb_access_logs_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.alb_access_logs_bucket))
    error_message = "alb_access_logs_bucket must be empty or an S3 bucket name."
  }
}
