terraform {
  # 1.10 like every other stack here; mock_provider/override_data in tests need >= 1.7.
  required_version = ">= 1.10"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.9.0"
    }
  }
}
