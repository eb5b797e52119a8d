# Planned values of the log key: exact group names (ArnEquals) and name patterns (ArnLike), the
# rotation, deletion window and alias; the validations.

mock_provider "aws" {}

variables {
  name        = "example-logs"
  description = "example: CloudWatch log groups"
  account_id  = "123456789012"
  partition   = "aws"
  region      = "eu-west-1"
  log_groups  = ["/aws/eks/example/cluster", "/aws/vpc/example/flow-logs"]
}

run "exact_groups" {
  command = plan

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30
    error_message = "the key must rotate and wait 30 days before a deletion by default"
  }
  assert {
    condition     = aws_kms_key.this.description == "example: CloudWatch log groups"
    error_message = "the description must be the caller's"
  }
  assert {
    condition     = aws_kms_alias.this.name == "alias/example-logs" && output.alias_name == "alias/example-logs"
    error_message = "the alias must be alias/<name>"
  }
  assert {
    condition = jsondecode(aws_kms_key.this.policy).Statement[0] == {
      Sid       = "AccountDelegatesToIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::123456789012:root" }
      Action    = "kms:*"
      Resource  = "*"
    }
    error_message = "the account root must keep administration of the key"
  }
  assert {
    condition = jsondecode(aws_kms_key.this.policy).Statement[1] == {
      Sid       = "CloudWatchLogsUse"
      Effect    = "Allow"
      Principal = { Service = "logs.eu-west-1.amazonaws.com" }
      Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      Resource  = "*"
      Condition = {
        ArnEquals = {
          "kms:EncryptionContext:aws:logs:arn" = [
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/eks/example/cluster",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vpc/example/flow-logs",
          ]
        }
      }
    }
    error_message = "CloudWatch Logs of the region may use the key for exactly the named groups"
  }
  assert {
    condition     = length(jsondecode(aws_kms_key.this.policy).Statement) == 2
    error_message = "the key policy has exactly the two statements"
  }
}

run "patterns_in_another_partition" {
  command = plan

  variables {
    partition               = "aws-us-gov"
    region                  = "us-gov-west-1"
    deletion_window_in_days = 7
    log_groups              = ["/shipshape/example/*", "aws-waf-logs-example*"]
  }

  assert {
    condition     = aws_kms_key.this.deletion_window_in_days == 7
    error_message = "the deletion window must be the caller's"
  }
  assert {
    condition = jsondecode(aws_kms_key.this.policy).Statement[1].Condition == {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = [
          "arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:/shipshape/example/*",
          "arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:aws-waf-logs-example*",
        ]
      }
    }
    error_message = "patterns must be matched with ArnLike, in the caller's partition and region"
  }
  assert {
    condition = (
      jsondecode(aws_kms_key.this.policy).Statement[0].Principal.AWS == "arn:aws-us-gov:iam::123456789012:root" &&
      jsondecode(aws_kms_key.this.policy).Statement[1].Principal.Service == "logs.us-gov-west-1.amazonaws.com"
    )
    error_message = "the principals must be of the caller's partition and region"
  }
}

run "no_log_groups" {
  command = plan

  variables {
    log_groups = []
  }

  expect_failures = [var.log_groups]
}

run "a_bare_wildcard" {
  command = plan

  variables {
    log_groups = ["*"]
  }

  expect_failures = [var.log_groups]
}

run "deletion_window_too_short" {
  command = plan

  variables {
    deletion_window_in_days = 6
  }

  expect_failures = [var.deletion_window_in_days]
}

run "aws_alias" {
  command = plan

  variables {
    name = "aws/logs"
  }

  expect_failures = [var.name]
}

run "bad_account_and_region" {
  command = plan

  variables {
    account_id = "12345"
    region     = "us-east"
  }

  expect_failures = [var.account_id, var.region]
}
