# This stack creates the bucket its own state lives in: the very first apply runs on local state and is
# then migrated into the bucket (README, "First apply"). Partial configuration: the bucket comes from
# `-backend-config`, so no project data is committed. The GCS backend locks with <prefix>/default.tflock.
terraform {
  backend "gcs" {
    prefix = "gcp/bootstrap"
  }
}
