# Two signals, both outside the VM so they work even when it is gone:
#   1. an uptime check of GET /hello from Google's checkers, and an alert when it fails;
#   2. an alert on out-of-band changes to the firewall rules or the VM (the classic incident:
#      someone deleted the VM and its firewall by hand), read from the Admin Activity audit log.
# The service's own logs reach Cloud Logging through the Ops Agent (scripts/ops-agent.sh).

locals {
  monitoring = var.enable_monitoring ? 1 : 0

  ignored_principals_clause = length(var.change_alert_ignored_principals) == 0 ? "" : format(
    " AND NOT protoPayload.authenticationInfo.principalEmail=(%s)",
    join(" OR ", [for p in var.change_alert_ignored_principals : "\"${p}\""]),
  )

  change_filter = join(" ", [
    "logName=\"projects/${var.project_id}/logs/cloudaudit.googleapis.com%2Factivity\"",
    "AND (",
    "(resource.type=\"gce_firewall_rule\" AND protoPayload.resourceName:\"/firewalls/${var.name}-\")",
    "OR (resource.type=\"gce_instance\" AND protoPayload.resourceName:\"/instances/${var.name}\"",
    "AND protoPayload.methodName:(\"instances.delete\" OR \"instances.stop\" OR \"instances.setMetadata\"))",
    ")${local.ignored_principals_clause}",
  ])
}

resource "google_monitoring_uptime_check_config" "hello" {
  count = local.monitoring

  display_name = "${var.name} GET /hello"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path           = "/hello"
    port           = 80
    request_method = "GET"
    use_ssl        = false

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  # The greeting itself, not only a 200: a wrong build answering 200 is still down.
  content_matchers {
    content = "Hello World from BenchSci!"
    matcher = "CONTAINS_STRING"
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = google_compute_address.vm.address
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "hello_down" {
  count = local.monitoring

  display_name          = "${var.name}: /hello failing"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Uptime check ${var.name} GET /hello fails"

    condition_threshold {
      # Google's uptime-alert pattern: count the checker locations reporting a failure.
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.\"check_id\"=\"${google_monitoring_uptime_check_config.hello[0].uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "120s"

      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.*"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "GET http://${google_compute_address.vm.address}/hello fails from more than one checker location. Check the VM (`gcloud compute instances describe ${var.name} --zone ${var.zone}`) and the service's journal in Cloud Logging; infra/gcp/vm/README.md has the runbook."
  }
}

resource "google_monitoring_alert_policy" "out_of_band_change" {
  count = local.monitoring

  display_name          = "${var.name}: firewall or VM changed outside Terraform"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Admin Activity audit entry for the ${var.name} firewall rules or VM"

    condition_matched_log {
      filter = local.change_filter
    }
  }

  # Log-match policies must rate-limit notifications.
  alert_strategy {
    auto_close = "1800s"

    notification_rate_limit {
      period = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A firewall rule or the VM of ${var.name} was created, changed, stopped or deleted by a principal other than the pipeline. Run `terraform plan` in infra/gcp/vm to see the drift and `terraform apply` to restore the declared state."
  }

  depends_on = [google_project_service.required]
}
