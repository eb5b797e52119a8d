# The image (shipshape) and the Helm chart as an OCI artifact (charts/shipshape: `helm push` to
# oci://<registry>/charts appends the chart name). Tags are immutable, so a short-SHA tag always means the
# same bytes and "roll back to tag X" is safe, except cosign's own tags (sha256-<digest>.sig/.att/.sbom),
# which a re-run of publish must be able to rewrite when it signs the same digest again (AWS:
# IMMUTABLE_WITH_EXCLUSION, https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageTagMutabilityExclusionFilter.html).
# A signature tag only ever points at a signature of that digest, verified against the KMS key.

locals {
  ecr_repositories = {
    image = "shipshape"
    chart = "charts/shipshape"
  }
  ecr_repository_arns = { for k, name in local.ecr_repositories : k => "arn:${local.partition}:ecr:${var.region}:${local.account_id}:repository/${name}" }

  # cosign stores signatures, attestations and SBOMs as tags named after the signed digest.
  cosign_tag_filters = ["sha256-*.sig", "sha256-*.att", "sha256-*.sbom"]

  ecr_lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images (superseded pushes, orphaned layers)"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.ecr_untagged_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.ecr_keep_images} tagged images; older releases expire"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

resource "aws_ecr_repository" "this" {
  for_each = local.ecr_repositories

  name                 = each.value
  image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"
  # checkov:skip=CKV_AWS_51:Tags are immutable except cosign's signature/attestation tags (sha256-*.sig/.att/.sbom), which re-signing rewrites

  dynamic "image_tag_mutability_exclusion_filter" {
    for_each = local.cosign_tag_filters
    content {
      filter      = image_tag_mutability_exclusion_filter.value
      filter_type = "WILDCARD"
    }
  }

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.artifacts.arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = local.ecr_lifecycle_policy
}
