variable "name" {
  description = "Name of the service on the VM (shown in the rendered comments only); the canonical resource prefix."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}[a-z0-9]$", var.name))
    error_message = "name must be 3-22 characters of lowercase letters, digits and dashes."
  }
}

variable "release" {
  description = <<-EOT
    Where the VM reads releases, with its own identity, and the key they are signed with:
      source         "s3" (instance profile credentials from IMDSv2, SigV4) or "gcs" (service account
                     token from the metadata server, Cloud Storage JSON API)
      bucket         bucket name
      prefix         key prefix of current.json and releases/<version>/ (default "shipshape/")
      endpoint       API base URL: https://<bucket>.s3.<region>.amazonaws.com (s3) or
                     https://storage.googleapis.com (gcs); http://127.x only for loopback tests
      region         the bucket's region (s3: part of the signature)
      public_key_pem PEM public key of the release signing key (ECDSA P-256), from the KMS key
  EOT
  type = object({
    source         = string
    bucket         = string
    prefix         = optional(string, "shipshape/")
    endpoint       = string
    region         = optional(string, "")
    public_key_pem = string
  })

  validation {
    condition     = contains(["s3", "gcs"], var.release.source)
    error_message = "release.source must be \"s3\" or \"gcs\"."
  }
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.release.bucket))
    error_message = "release.bucket must be a bucket name."
  }
  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+/)*$", var.release.prefix))
    error_message = "release.prefix must be empty or path segments ending in '/' (letters, digits, . _ -)."
  }
  validation {
    condition     = can(regex("^(https://[a-z0-9.-]+|http://127\\.[0-9.]+:[0-9]+)$", var.release.endpoint))
    error_message = "release.endpoint must be an https:// base URL with no path (http://127.x:port only for loopback tests)."
  }
  validation {
    condition     = var.release.source != "s3" || can(regex("^[a-z]{2}(-gov)?(-[a-z]+)+-[0-9]$", var.release.region))
    error_message = "release.region is required for s3 (the bucket's region, e.g. us-east-1)."
  }
  validation {
    condition     = can(regex("^-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=\\n]+-----END PUBLIC KEY-----\\n?$", var.release.public_key_pem))
    error_message = "release.public_key_pem must be one PEM public key (-----BEGIN PUBLIC KEY-----)."
  }
}

variable "metadata_endpoint" {
  description = "The instance metadata service (IMDSv2 on EC2, the metadata server on GCE): both answer on the link-local address."
  type        = string
  default     = "http://169.254.169.254"

  validation {
    condition     = can(regex("^http://[0-9.]+(:[0-9]+)?$", var.metadata_endpoint))
    error_message = "metadata_endpoint must be http://<address>[:port]."
  }
}

variable "environment" {
  description = "Environment of the service (/etc/shipshape/shipshape.env), merged over the module's defaults (LOG_FORMAT=json, the SQLite DATABASE_URL on the data directory)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "environment keys must be upper-case environment variable names."
  }
}

variable "data_disk_device" {
  description = "Block device of a persistent data disk that holds /var/lib/private/shipshape (the SQLite database), e.g. /dev/disk/by-id/google-shipshape-data. It is formatted only when empty and must be mounted before the service starts. null: the data lives on the boot disk."
  type        = string
  default     = null

  validation {
    condition     = var.data_disk_device == null || can(regex("^/dev/[A-Za-z0-9/._:-]+$", var.data_disk_device))
    error_message = "data_disk_device must be null or a /dev/... path."
  }
}

variable "cloudwatch_agent_config" {
  description = "CloudWatch agent JSON (AWS); \"\" installs no agent."
  type        = string
  default     = ""
}
