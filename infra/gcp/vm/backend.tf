terraform {
  # Partial configuration: the bucket comes from `terraform init -backend-config=bucket=...`
  # (infra/gcp/bootstrap's state_bucket; the pipeline passes GCP_STATE_BUCKET), so no project data is
  # committed. The GCS backend locks the state with gcp/vm/default.tflock by itself.
  backend "gcs" {
    prefix = "gcp/vm"
  }
}
