variable "name" {
  description = "The key's alias without \"alias/\" (unique in the account and region), e.g. \"shipshape-vm-logs\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]{1,250}$", var.name)) && !startswith(var.name, "aws/")
    error_message = "name must be 1-250 letters, digits, '/', '_' or '-' and not start with \"aws/\" (AWS's own aliases)."
  }
}

variable "description" {
  description = "The key's description: which stack's log groups it encrypts."
  type        = string

  validation {
    condition     = length(trimspace(var.description)) > 0 && length(var.description) <= 8192
    error_message = "description must be 1-8192 characters."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion takes effect (a last chance to cancel it)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "log_groups" {
  description = "Names of the log groups CloudWatch Logs may use the key for, or name patterns with * and ? (e.g. \"/shipshape/prod/*\"). Without a wildcard the policy matches the ARNs exactly (ArnEquals), with one as patterns (ArnLike)."
  type        = list(string)

  validation {
    condition     = length(var.log_groups) > 0 && alltrue([for g in var.log_groups : can(regex("^[A-Za-z0-9_./#-][A-Za-z0-9_./#*?-]{0,511}$", g))])
    error_message = "log_groups must name at least one group; each a log group name or pattern that starts with a name character (not a wildcard)."
  }
}

variable "account_id" {
  description = "AWS account id of the key (the account root administers it; the log groups' ARNs)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov), for the ARNs in the key policy."
  type        = string

  validation {
    condition     = can(regex("^aws(-[a-z]+)*$", var.partition))
    error_message = "partition must be aws or aws-<name>."
  }
}

variable "region" {
  description = "AWS region of the key and the log groups (the provider's): the CloudWatch Logs service principal is regional."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be a region name such as us-east-1."
  }
}
