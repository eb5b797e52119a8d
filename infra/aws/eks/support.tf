# Dated support windows of the versions this stack pins. A version is accepted only while it has
# more than 60 days of AWS standard support left (tests/infra/test_aws_eks.py checks the planned
# outputs against today's date, so CI goes red two months before a pin falls out of support).
#
# Kubernetes: "Amazon EKS Kubernetes release calendar",
#   https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html (checked 2026-12-06).
# PostgreSQL: "Release calendar for Amazon RDS for PostgreSQL" (RDS end of standard support),
#   https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html
#   (checked 2026-12-06; RDS ends standard support on Feb 28/29 after the community's November EOL).
# Add the next version here (with its date and source) in the same change that moves the pin to it.
locals {
  support_warning_days = 60

  kubernetes_end_of_standard_support = {
    "1.33" = "2026-07-29"
    "1.34" = "2026-12-02"
    "1.35" = "2027-03-27"
  }

  postgres_end_of_standard_support = {
    "16" = "2029-02-28"
    "17" = "2030-02-28"
  }

  support_windows = {
    kubernetes = {
      version                 = var.kubernetes_version
      end_of_standard_support = lookup(local.kubernetes_end_of_standard_support, var.kubernetes_version, null)
      source                  = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"
    }
    postgres = {
      version                 = var.postgres_major_version
      end_of_standard_support = lookup(local.postgres_end_of_standard_support, var.postgres_major_version, null)
      source                  = "https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html"
    }
  }
}

# A warning in every plan (the pytest check turns the same condition into a failure in CI).
check "versions_in_standard_support" {
  assert {
    condition = alltrue([
      for w in values(local.support_windows) :
      w.end_of_standard_support != null && timecmp(timeadd("${w.end_of_standard_support}T00:00:00Z", "-${local.support_warning_days * 24}h"), plantimestamp()) > 0
    ])
    error_message = "A pinned version leaves AWS standard support within ${local.support_warning_days} days (or has no dated entry): ${jsonencode(local.support_windows)}. Upgrade it (README: Upgrades)."
  }
}
