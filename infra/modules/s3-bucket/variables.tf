variable "name" {
  description = "Bucket name (globally unique: callers include the account id and region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name)) && !strcontains(var.name, "..")
    error_message = "name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and dashes."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS, and every PutObject must use it (bucket policy). null: SSE-S3 (for buckets S3 log delivery or anonymous readers must use)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (not an alias)."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's S3 server access logs; null for the log bucket itself."
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of this bucket's access logs in access_log_bucket."
  type        = string
  default     = ""

  validation {
    condition     = var.access_log_prefix == "" || can(regex("^[A-Za-z0-9._-]+/$", var.access_log_prefix))
    error_message = "access_log_prefix must be empty or one path segment ending in '/'."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept (the undo window)."
  type        = number

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "expiration" {
  description = "Expire current objects under prefix after days; null keeps them until deleted."
  type = object({
    prefix = string
    days   = number
  })
  default = null

  validation {
    condition     = var.expiration == null || try(var.expiration.days >= 1, false)
    error_message = "expiration.days must be at least 1."
  }
}

variable "policy_statements" {
  description = "Extra bucket policy statements (objects as in a policy document). The module always adds the TLS-only deny and, with kms_key_arn, the deny of puts not encrypted with that key."
  type        = any
  default     = []
}
