terraform {
  # Pure rendering: no provider. 1.9+ for validations that refer to other variables.
  required_version = ">= 1.10"
}
