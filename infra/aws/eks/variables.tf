# ---------------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------------
variable "region" {
  description = "AWS region of the whole stack (cluster, database, certificate)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "name" {
  description = "Name of the cluster and prefix of every resource name (the bootstrap's eks_cluster_name)."
  type        = string
  default     = "shipshape"

  validation {
    # EKS cluster names allow 100 characters; RDS identifiers and IAM role names derived from it do not.
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
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
  description = "Extra tags for every resource (e.g. CostCenter); Project, ManagedBy and Stack are always set and may not be overridden."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.tags), ["Project", "ManagedBy", "Stack"])) == 0
    error_message = "tags must not override Project, ManagedBy or Stack."
  }
}

variable "log_retention_days" {
  description = "Retention of the EKS control-plane and VPC flow log groups."
  type        = number
  default     = 365

  validation {
    # The values CloudWatch Logs accepts; one year or more keeps an audit trail for incident reviews.
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 365."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion takes effect (a last chance to cancel)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# ---------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; split into three /20 private (nodes and pods) and three /24 public subnets."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) == 16
    error_message = "vpc_cidr must be a valid /16 (pods take VPC addresses, so the private subnets are large)."
  }
}

variable "availability_zone_suffixes" {
  description = "The three AZs (region + suffix) the VPC spans. Fixed names, so a zone's state never reshuffles subnets."
  type        = list(string)
  default     = ["a", "b", "c"]

  validation {
    condition     = length(distinct(var.availability_zone_suffixes)) == 3 && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "availability_zone_suffixes must be three distinct letters."
  }
}

variable "nat_gateway_mode" {
  description = "\"single\": one NAT gateway for all AZs (cheaper; an AZ outage cuts egress of the others). \"per_az\": one per AZ."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be \"single\" or \"per_az\"."
  }
}

variable "enable_interface_endpoints" {
  description = "Interface endpoints for ECR (api, dkr) and STS in every AZ: image pulls and token calls skip the NAT."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------------------------------
variable "kubernetes_version" {
  description = "EKS Kubernetes minor version. Upgrade one minor at a time (README: Upgrades)."
  type        = string
  default     = "1.35"

  validation {
    # Only versions with a dated entry in support.tf: the check there knows when each one ends.
    condition     = contains(keys(local.kubernetes_end_of_standard_support), var.kubernetes_version)
    error_message = "kubernetes_version must be a minor version listed in support.tf (kubernetes_end_of_standard_support)."
  }
}

variable "ci_api_access" {
  description = "How the pipeline's deploy job reaches the Kubernetes API. \"circleci_ip_ranges\": the public endpoint admits CircleCI's published IP ranges for jobs with `circleci_ip_ranges: true` (Performance or Scale plan). \"none\": no pipeline access (run deploy-eks from inside the VPC or from cluster_public_access_cidrs)."
  type        = string
  default     = "circleci_ip_ranges"

  validation {
    condition     = contains(["circleci_ip_ranges", "none"], var.ci_api_access)
    error_message = "ci_api_access must be \"circleci_ip_ranges\" or \"none\"."
  }
}

variable "cluster_public_access_cidrs" {
  description = "Extra CIDRs (e.g. the office VPN) allowed to reach the public API endpoint, besides ci_api_access. With both empty the endpoint is private only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cluster_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "cluster_public_access_cidrs must be valid CIDRs."
  }

  validation {
    # An API server open to the whole internet is one leaked token away from a takeover.
    condition     = alltrue([for c in var.cluster_public_access_cidrs : try(tonumber(split("/", c)[1]) >= 8, false)])
    error_message = "cluster_public_access_cidrs must not contain 0.0.0.0/0 or any prefix shorter than /8."
  }
}

variable "builtin_node_pools" {
  description = "Auto Mode built-in node pools. \"system\" runs add-ons; workloads go to the NodePool in deploy/eks (network policies on)."
  type        = list(string)
  default     = ["system"]

  validation {
    condition     = alltrue([for p in var.builtin_node_pools : contains(["system", "general-purpose"], p)])
    error_message = "builtin_node_pools may only contain \"system\" and \"general-purpose\"."
  }
}

variable "node_architectures" {
  description = "CPU architectures of workload nodes; add arm64 (cheaper Graviton) once the image is published multi-arch."
  type        = list(string)
  default     = ["amd64"]

  validation {
    condition     = length(var.node_architectures) > 0 && alltrue([for a in var.node_architectures : contains(["amd64", "arm64"], a)])
    error_message = "node_architectures must be a non-empty subset of [\"amd64\", \"arm64\"]."
  }
}

variable "admin_role_arn" {
  description = "IAM role of the platform team (human, assumed with MFA/SSO): cluster-admin through an access entry."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.admin_role_arn))
    error_message = "admin_role_arn must be an IAM role ARN."
  }
}

variable "platform_role_arn" {
  description = "A second cluster-admin role for the platform layer (`make eks-platform`: deploy/eks, controllers, database setup), e.g. a platform automation role outside CI. null (default): the platform team does that step with admin_role_arn. Never a CircleCI role: the bootstrap forbids the apply role to give the plan, apply or publish role cluster access."
  type        = string
  default     = null

  validation {
    condition     = var.platform_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.platform_role_arn))
    error_message = "platform_role_arn must be null or an IAM role ARN."
  }
  validation {
    # The pipeline's own roles are "<bootstrap name>-ci-<role>"; apply may not grant them cluster admin.
    condition     = var.platform_role_arn == null || !can(regex(":role/(.*/)?[a-z][a-z0-9-]*-ci-(plan|apply|publish|deploy)$", coalesce(var.platform_role_arn, "-")))
    error_message = "platform_role_arn must not be a CircleCI role (<name>-ci-plan/-apply/-publish/-deploy): CI never gets cluster admin."
  }
}

variable "deploy_role_arn" {
  description = "Pipeline role that runs helm upgrade for shipshape on every main build: edit rights in app_namespace only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.deploy_role_arn))
    error_message = "deploy_role_arn must be an IAM role ARN."
  }
}

variable "app_namespace" {
  description = "Namespace of the shipshape release; the deploy role, the DB secret and the ALB are limited to it."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.app_namespace))
    error_message = "app_namespace must be a DNS-1123 label."
  }
}

variable "metrics_server_addon_version" {
  description = "metrics-server EKS add-on version (the HPA's metrics source). null (default): the version AWS publishes as the default for kubernetes_version, so the pin moves with the Kubernetes pin. `aws eks describe-addon-versions --addon-name metrics-server --kubernetes-version X` lists the others."
  type        = string
  default     = null

  validation {
    condition     = var.metrics_server_addon_version == null || can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+-eksbuild\\.[0-9]+$", var.metrics_server_addon_version))
    error_message = "metrics_server_addon_version must be an exact add-on version like v0.8.0-eksbuild.5."
  }
}

variable "cluster_deletion_protection" {
  description = "EKS deletion protection: `terraform destroy` fails until this is set false and applied."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------------
variable "postgres_major_version" {
  description = "PostgreSQL major version; RDS picks its default minor and applies minor upgrades in the maintenance window."
  type        = string
  default     = "17"

  validation {
    # Only majors with a dated entry in support.tf.
    condition     = contains(keys(local.postgres_end_of_standard_support), var.postgres_major_version)
    error_message = "postgres_major_version must be a major version listed in support.tf (postgres_end_of_standard_support)."
  }
}

variable "db_instance_class" {
  description = "RDS instance class. Graviton burstable is enough for this service; use db.m7g.* for steady load."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.small."
  }
}

variable "db_multi_az" {
  description = "Synchronous standby in a second AZ with automatic failover (doubles the instance price)."
  type        = bool
  default     = true
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage; autoscaling grows it up to db_max_allocated_storage_gb."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Ceiling of RDS storage autoscaling."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb >= var.db_allocated_storage_gb
    error_message = "db_max_allocated_storage_gb must be at least db_allocated_storage_gb."
  }
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "db_deletion_protection" {
  description = "RDS deletion protection: the instance cannot be deleted until this is set false and applied."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot on deletion. Leave false outside throwaway environments."
  type        = bool
  default     = false
}

variable "db_name" {
  description = "Database created on the instance for shipshape."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lowercase PostgreSQL identifier."
  }
}

variable "db_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.db_username)) && !contains(["postgres", "admin", "rdsadmin"], var.db_username)
    error_message = "db_username must be a lowercase identifier of at most 16 characters and not a reserved name."
  }
}

variable "db_app_password_rotation_days" {
  description = "Days between rotations of the application's and the migrations' database passwords (Secrets Manager, alternating users: the previous login keeps working until the next rotation)."
  type        = number
  default     = 30

  validation {
    # ESO refreshes within minutes; anything from a day up leaves the old login valid long enough.
    condition     = var.db_app_password_rotation_days >= 1 && var.db_app_password_rotation_days <= 365
    error_message = "db_app_password_rotation_days must be between 1 and 365."
  }
}

variable "db_sslmode" {
  description = "libpq sslmode in DATABASE_URL. verify-full checks the RDS certificate against the CA bundle mounted in the pod; require only encrypts."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["verify-full", "require"], var.db_sslmode)
    error_message = "db_sslmode must be verify-full or require (never disable/prefer: rds.force_ssl refuses plaintext)."
  }
}

# ---------------------------------------------------------------------------------------------------
# HTTPS and DNS
# ---------------------------------------------------------------------------------------------------
variable "route53_zone_id" {
  description = "ID of the existing public Route 53 hosted zone that holds domain_name."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{1,31}$", var.route53_zone_id))
    error_message = "route53_zone_id must be a hosted zone ID like Z0123456789ABCDEFGHIJ."
  }
}

variable "domain_name" {
  description = "Public host name of the service (certificate subject and the ALB's DNS record), e.g. shipshape.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lowercase fully qualified host name without a trailing dot."
  }
}

# ---------------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------------
variable "alarm_sns_topic_arn" {
  description = "SNS topic that receives the CloudWatch alarms and the Prometheus alerts (and their recovery). Empty: they exist but notify no one."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_sns_topic_arn == "" || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be empty or an SNS topic ARN."
  }
}
