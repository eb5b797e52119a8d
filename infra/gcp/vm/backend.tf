terraform {
  # Partial configuration: the bucket (and prefix) come from
  # `terraform init -backend-config=...` so no project data is committed. The GCS backend
  # locks the state with a lock object by itself; there is no lock table to create.
  backend "gcs" {}
}
