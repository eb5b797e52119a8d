# Monitoring of the EKS path.
#
# Metrics: an Amazon Managed Service for Prometheus workspace and an AWS managed collector (agentless
# scraper, "Ingest metrics with AWS managed collectors",
# https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector.html) that scrapes the
# shipshape pods' /metrics through ENIs in the private subnets. Nothing to run or patch in the
# cluster; the alert rules are the chart's own rule file (deploy/helm/shipshape/files/prometheus-rules.yaml,
# checked by promtool in make chart-check), loaded into the workspace, and alerts go to the SNS topic.
#
# CloudWatch alarms: the database (RDS metrics) and the public path (a Route 53 health check of
# https://<domain>/readyz through the ALB, so DNS, certificate, ALB and at least one ready pod are
# all proven every 30 s from three regions).

locals {
  alarm_actions = var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]
  # Route 53 health check metrics exist only in us-east-1; an alarm there can notify only a topic there.
  health_alarm_actions = can(regex("^arn:[^:]+:sns:us-east-1:", var.alarm_sns_topic_arn)) ? [var.alarm_sns_topic_arn] : []

  prometheus_rules_file = "${path.module}/../../../deploy/helm/shipshape/files/prometheus-rules.yaml"

  # Prometheus scrape configuration of the managed collector: the serving pods of the release.
  scrape_configuration = yamlencode({
    global = { scrape_interval = "30s", scrape_timeout = "10s" }
    scrape_configs = [{
      job_name = "shipshape"
      kubernetes_sd_configs = [{
        role       = "pod"
        namespaces = { names = [var.app_namespace] }
      }]
      relabel_configs = [
        { source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name", "__meta_kubernetes_pod_label_app_kubernetes_io_component"], regex = "shipshape;server", action = "keep" },
        { source_labels = ["__meta_kubernetes_pod_container_port_name"], regex = "http", action = "keep" },
        { source_labels = ["__meta_kubernetes_namespace"], target_label = "namespace" },
        { source_labels = ["__meta_kubernetes_pod_name"], target_label = "pod" },
      ]
    }]
  })
}

# ---------------------------------------------------------------------------------------------------
# Amazon Managed Service for Prometheus: workspace, collector, rules, alert routing.
# ---------------------------------------------------------------------------------------------------
resource "aws_prometheus_workspace" "this" {
  alias       = var.name
  kms_key_arn = module.log_key.arn
}

resource "aws_prometheus_scraper" "this" {
  alias                = var.name
  scrape_configuration = local.scrape_configuration

  source {
    eks {
      cluster_arn = aws_eks_cluster.this.arn
      # The cluster's subnets and security group (the pods admit it through the cluster SG).
      subnet_ids         = module.network.private_subnet_ids
      security_group_ids = [aws_eks_cluster.this.vpc_config[0].cluster_security_group_id]
    }
  }

  destination {
    amp {
      workspace_arn = aws_prometheus_workspace.this.arn
    }
  }
}

# The collector reads pods and /metrics as Kubernetes user aps-collector-user; its ClusterRole and
# binding are in deploy/eks/platform.yaml.tftpl.
resource "aws_eks_access_entry" "scraper" {
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_prometheus_scraper.this.role_arn
  user_name     = "aps-collector-user"
  type          = "STANDARD"
}

resource "aws_prometheus_rule_group_namespace" "shipshape" {
  name         = "shipshape"
  workspace_id = aws_prometheus_workspace.this.id
  data         = file(local.prometheus_rules_file)
}

resource "aws_prometheus_alert_manager_definition" "this" {
  count = var.alarm_sns_topic_arn == "" ? 0 : 1

  workspace_id = aws_prometheus_workspace.this.id
  # The topic's policy must let aps.amazonaws.com publish (README: Alerts).
  definition = yamlencode({
    alertmanager_config = {
      route = { receiver = "sns", group_by = ["alertname", "namespace"], repeat_interval = "4h" }
      receivers = [{
        name = "sns"
        sns_configs = [{
          topic_arn     = var.alarm_sns_topic_arn
          sigv4         = { region = split(":", var.alarm_sns_topic_arn)[3] }
          send_resolved = true
        }]
      }]
    }
  })
}

# ---------------------------------------------------------------------------------------------------
# CloudWatch alarms: the database.
# ---------------------------------------------------------------------------------------------------
locals {
  db_alarms = {
    cpu = {
      metric  = "CPUUtilization", statistic = "Average", comparison = "GreaterThanThreshold", threshold = 80
      periods = 3, description = "PostgreSQL CPU above 80 % for 15 minutes (runbook: ShipshapeDatabaseCpu)."
    }
    storage = {
      metric  = "FreeStorageSpace", statistic = "Minimum", comparison = "LessThanThreshold", threshold = 2 * 1024 * 1024 * 1024
      periods = 1, description = "Less than 2 GiB of database storage free (autoscaling has hit db_max_allocated_storage_gb or cannot keep up) (runbook: ShipshapeDatabaseCpu)."
    }
    memory = {
      metric  = "FreeableMemory", statistic = "Minimum", comparison = "LessThanThreshold", threshold = 128 * 1024 * 1024
      periods = 3, description = "Less than 128 MiB freeable memory on the database instance for 15 minutes (runbook: ShipshapeDatabaseCpu)."
    }
    connections = {
      # db.t4g.small admits about 190 connections; pods take at most maxReplicas x dbMaxConnections (120).
      metric  = "DatabaseConnections", statistic = "Maximum", comparison = "GreaterThanThreshold", threshold = 160
      periods = 2, description = "More than 160 database connections: close to max_connections, new logins will soon be refused (runbook: ShipshapeDatabaseCpu)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "db" {
  for_each = local.db_alarms

  alarm_name          = "${var.name}-db-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = each.value.periods
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ---------------------------------------------------------------------------------------------------
# CloudWatch alarm: the public path through the ALB.
# ---------------------------------------------------------------------------------------------------
resource "aws_route53_health_check" "service" {
  type              = "HTTPS"
  fqdn              = var.domain_name
  port              = 443
  resource_path     = "/readyz"
  enable_sni        = true
  request_interval  = 30
  failure_threshold = 3

  tags = { Name = "${var.name}-service" }
}

resource "aws_cloudwatch_metric_alarm" "service_unhealthy" {
  region              = "us-east-1"
  alarm_name          = "${var.name}-service-unhealthy"
  alarm_description   = "https://${var.domain_name}/readyz fails through the ALB for 2 minutes (runbook: ShipshapeServiceUnhealthy)."
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckStatus"
  dimensions          = { HealthCheckId = aws_route53_health_check.service.id }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.health_alarm_actions
  ok_actions          = local.health_alarm_actions
}
