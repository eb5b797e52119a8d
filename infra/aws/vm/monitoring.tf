locals {
  alarm_actions = var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]
}

# ---- log groups: all KMS-encrypted with the stack's key, all with a retention --------------------

resource "aws_cloudwatch_log_group" "app" {
  name              = "/shipshape/${var.name}/app"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/shipshape/${var.name}/vpc-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

# Output of deploy commands run by hand (aws ssm send-command --cloud-watch-output-config ...).
resource "aws_cloudwatch_log_group" "deploy" {
  name              = "/shipshape/${var.name}/deploy"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

# ---- single VM -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "vm_status_check" {
  count = var.enable_scaling ? 0 : 1

  alarm_name          = "${var.name}-vm-status-check-failed"
  alarm_description   = "The shipshape VM fails its EC2 instance or system status check."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { InstanceId = aws_instance.vm[0].id }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A failed *system* check (the host's fault) is fixed by EC2 itself: recovery keeps the instance id,
# its Elastic IP and its disk.
resource "aws_cloudwatch_metric_alarm" "vm_auto_recover" {
  count = var.enable_scaling ? 0 : 1

  alarm_name          = "${var.name}-vm-system-check-recover"
  alarm_description   = "EC2 system status check failed: recovering the shipshape VM onto healthy hardware."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  dimensions          = { InstanceId = aws_instance.vm[0].id }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = concat(["arn:${local.partition}:automate:${local.region}:ec2:recover"], local.alarm_actions)
}

# ---- auto scaling group behind the ALB ----------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  count = var.enable_scaling ? 1 : 0

  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "More than 10 responses with status 5xx (from the instances or the ALB itself) in 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 10
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "total"
    expression  = "FILL(target, 0) + FILL(elb, 0)"
    label       = "5xx responses"
    return_data = true
  }

  metric_query {
    id = "target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.app[0].arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.app[0].arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }
}

# Also the instance refresh's rollback trigger (compute.tf).
resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  count = var.enable_scaling ? 1 : 0

  alarm_name          = "${var.name}-alb-unhealthy-hosts"
  alarm_description   = "At least one shipshape instance fails the ALB's /readyz health check."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dimensions = {
    LoadBalancer = aws_lb.app[0].arn_suffix
    TargetGroup  = aws_lb_target_group.app[0].arn_suffix
  }
}
