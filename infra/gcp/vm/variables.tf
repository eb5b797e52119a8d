variable "project_id" {
  description = "ID of the GCP project that holds the stack (it must already exist, with billing)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project ID: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the subnet and the static external IP."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1 or europe-west4."
  }
}

variable "zone" {
  description = "Zone of the VM; it must be in var.region."
  type        = string
  default     = "us-central1-a"

  validation {
    condition     = startswith(var.zone, "${var.region}-") && can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must be a zone of var.region, e.g. us-central1-a."
  }
}

variable "name" {
  description = "Name of the VM and prefix of every other resource name (VPC, subnet, firewall rules, IP, service account)."
  type        = string
  default     = "shipshape"

  validation {
    # 20 characters leaves room for the longest suffix ("-deny-torrent-egress") within
    # GCP's 63-character names and the service account's 30-character account_id.
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.name))
    error_message = "name must be 2-20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "subnet_cidr" {
  description = "Primary IPv4 range of the VM's subnet. With subnet_secondary_ranges and extra_subnets it makes up the VPC's ranges, the 'inside the VPC' of the firewall."
  type        = string
  default     = "10.20.0.0/24"

  validation {
    condition = (
      can(cidrhost(var.subnet_cidr, 0)) &&
      try(cidrhost(var.subnet_cidr, 0) == split("/", var.subnet_cidr)[0], false) &&
      try(tonumber(split("/", var.subnet_cidr)[1]) >= 8 && tonumber(split("/", var.subnet_cidr)[1]) <= 29, false) &&
      # Inside RFC 1918: masking the address to each private block's length gives that block.
      anytrue([
        for block in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] :
        try(
          cidrhost("${split("/", var.subnet_cidr)[0]}/${split("/", block)[1]}", 0) == split("/", block)[0] &&
          tonumber(split("/", var.subnet_cidr)[1]) >= tonumber(split("/", block)[1]),
          false
        )
      ])
    )
    error_message = "subnet_cidr must be an RFC 1918 network address with a prefix between /8 and /29, e.g. 10.20.0.0/24."
  }
}

variable "subnet_secondary_ranges" {
  description = "Secondary (alias IP) ranges of the VM's subnet, by range name. Inside the VPC for the firewall."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for name, cidr in var.subnet_secondary_ranges :
      can(regex("^[a-z][a-z0-9-]{0,62}$", name)) && can(cidrhost(cidr, 0)) && try(cidrhost(cidr, 0) == split("/", cidr)[0], false)
    ])
    error_message = "subnet_secondary_ranges: names are lowercase (a-z, 0-9, -), values IPv4 network addresses such as 10.21.0.0/20."
  }
}

variable "extra_subnets" {
  description = "Further subnets of the VPC, by name suffix: { cidr, region (default var.region), secondary_ranges }. Every range of every subnet is inside the VPC for the firewall."
  type = map(object({
    cidr             = string
    region           = optional(string)
    secondary_ranges = optional(map(string), {})
  }))
  default = {}

  validation {
    condition = alltrue([
      for name, s in var.extra_subnets :
      can(regex("^[a-z][a-z0-9-]{0,20}$", name)) &&
      alltrue([for cidr in concat([s.cidr], values(s.secondary_ranges)) : can(cidrhost(cidr, 0)) && try(cidrhost(cidr, 0) == split("/", cidr)[0], false)])
    ])
    error_message = "extra_subnets: names are lowercase (a-z, 0-9, -, at most 21 characters); every range is an IPv4 network address such as 10.30.0.0/24."
  }
}

variable "vm_service_account_email" {
  description = "The VMs' service account, created by infra/gcp/bootstrap (output vm_service_account_email): it reads the releases, and the public firewall openings target it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", var.vm_service_account_email))
    error_message = "vm_service_account_email must be a user-managed service account email (<id>@<project>.iam.gserviceaccount.com)."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels (merged under project/managed-by/stack)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels: keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and - (at most 63 characters)."
  }
}

variable "machine_type" {
  description = "Machine type of the VM. e2-small is plenty for the hello service."
  type        = string
  default     = "e2-small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*-[a-z0-9-]+$", var.machine_type))
    error_message = "machine_type must be a GCE machine type name such as e2-small or n2-standard-2."
  }
}

variable "image_project" {
  description = "Project that publishes the boot image family."
  type        = string
  default     = "ubuntu-os-cloud"
}

variable "image_family" {
  description = "Boot image family. It must run cloud-init from the `user-data` metadata key, which Ubuntu's GCE images do and Google's Debian images do not (see README)."
  type        = string
  default     = "ubuntu-2404-lts-amd64"

  validation {
    condition     = can(regex("^ubuntu-(minimal-)?[0-9]{4}-lts-(amd64|arm64)$", var.image_family))
    error_message = "image_family must be an Ubuntu LTS family (ubuntu-2404-lts-amd64, ubuntu-minimal-2404-lts-amd64, ...): other GCE images do not run cloud-init."
  }
}

variable "boot_disk_size_gb" {
  description = "Size of the boot disk in GB."
  type        = number
  default     = 20

  validation {
    condition     = var.boot_disk_size_gb >= 10 && var.boot_disk_size_gb <= 200 && floor(var.boot_disk_size_gb) == var.boot_disk_size_gb
    error_message = "boot_disk_size_gb must be a whole number between 10 and 200."
  }
}

variable "boot_disk_type" {
  description = "Persistent disk type of the boot disk."
  type        = string
  default     = "pd-balanced"

  validation {
    condition     = contains(["pd-standard", "pd-balanced", "pd-ssd"], var.boot_disk_type)
    error_message = "boot_disk_type must be pd-standard, pd-balanced or pd-ssd."
  }
}

variable "boot_disk_kms_key" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the boot disk (CMEK). null = Google-managed encryption, which every persistent disk has anyway. The Compute Engine service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on the key."
  type        = string
  default     = null

  validation {
    condition     = var.boot_disk_kms_key == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.boot_disk_kms_key))
    error_message = "boot_disk_kms_key must be null or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "release_bucket" {
  description = "GCS bucket of the releases: <release_prefix>current.json (the release pointer) and <release_prefix>releases/<version>/. The VM's service account reads it (objectViewer, this prefix only)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.release_bucket))
    error_message = "release_bucket must be a GCS bucket name."
  }
}

variable "release_prefix" {
  description = "Key prefix of the release pointer and releases in release_bucket."
  type        = string
  default     = "shipshape/"

  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+/)+$", var.release_prefix))
    error_message = "release_prefix must be path segments ending in '/'."
  }
}

variable "release_signing_key" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K, purpose ASYMMETRIC_SIGN, EC_SIGN_P256_SHA256) the pipeline signs releases with; its public key goes into the boot configuration."
  type        = string

  validation {
    condition     = can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.release_signing_key))
    error_message = "release_signing_key must be projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "release_signing_key_version" {
  description = "Version of release_signing_key whose public key the VM trusts."
  type        = number
  default     = 1
}

variable "data_disk_size_gb" {
  description = "Size (GB) of the persistent data disk that holds the database and outlives the VM."
  type        = number
  default     = 10

  validation {
    condition     = var.data_disk_size_gb >= 10 && var.data_disk_size_gb <= 1000 && floor(var.data_disk_size_gb) == var.data_disk_size_gb
    error_message = "data_disk_size_gb must be a whole number between 10 and 1000."
  }
}

variable "environment" {
  description = "Extra environment for the service, merged over the defaults in compute.tf (PORT=80, the SQLite DATABASE_URL, JSON logs), e.g. { GREETING = \"...\" }."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "environment keys must be upper-case environment variable names."
  }
}

variable "install_ops_agent" {
  description = "Install the Google Cloud Ops Agent at boot (startup script) so the journal, including the service's JSON request logs, reaches Cloud Logging and host metrics reach Cloud Monitoring."
  type        = bool
  default     = true
}

variable "firewall_logging" {
  description = "Log the security-relevant firewall rules (SSH allow, ingress deny, egress deny) to Cloud Logging."
  type        = bool
  default     = true
}

variable "enable_monitoring" {
  description = "Create the uptime check on /hello and the alert policies."
  type        = bool
  default     = true
}

variable "notification_channels" {
  description = "IDs of existing Cloud Monitoring notification channels (projects/P/notificationChannels/N) the alert policies notify. Empty = alerts are only visible in the console."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "notification_channels entries must look like projects/P/notificationChannels/N."
  }
}

variable "change_alert_ignored_principals" {
  description = "Principals (e.g. the CI service account's email) whose changes to the firewall rules and the VM do not raise the out-of-band change alert. Everyone else's do."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.change_alert_ignored_principals : can(regex("^[^@\"[:space:]]+@[^@\"[:space:]]+$", p))])
    error_message = "change_alert_ignored_principals entries must be e-mail style principals."
  }
}

variable "deletion_protection" {
  description = "Protect the VM from deletion (releases never replace it; a boot-configuration change does, and true blocks that apply until lifted)."
  type        = bool
  default     = false
}
