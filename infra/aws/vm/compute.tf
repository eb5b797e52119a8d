# ---- image -----------------------------------------------------------------------------------------

# AWS's public parameter always names the current image, so a new apply picks up OS patches.
data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

# Resolves the id to an image owned by an allowed account (and gives its root device name).
data "aws_ami" "selected" {
  owners = var.ami_owners

  filter {
    name   = "image-id"
    values = [data.aws_ssm_parameter.ami.insecure_value]
  }
}

data "aws_default_tags" "current" {}

# ---- what every instance boots with -----------------------------------------------------------------

locals {
  # The service's settings on the VM; variables may override any of them.
  environment = merge({
    PORT         = "80"
    BIND_ADDRESS = "::" # dual stack: IPv4 and IPv6 on one socket
    LOG_FORMAT   = "json"
    DATABASE_URL = "sqlite:///var/lib/shipshape/shipshape.db"
  }, var.environment)

  # File that deploy/cloud-init's shipshape-journal-export unit fills from the unit's journal.
  app_log_file = "/var/log/shipshape/shipshape.log"

  cloudwatch_agent_config = var.enable_cloudwatch_agent ? jsonencode({
    agent = { metrics_collection_interval = 60 }
    logs = {
      logs_collected = {
        files = {
          collect_list = [{
            file_path       = local.app_log_file
            log_group_name  = aws_cloudwatch_log_group.app.name
            log_stream_name = "{instance_id}"
            timezone        = "UTC"
          }]
        }
      }
    }
    # Memory and disk are invisible to EC2's own metrics.
    metrics = {
      namespace         = "CWAgent"
      append_dimensions = { InstanceId = "$${aws:InstanceId}" }
      metrics_collected = {
        mem  = { measurement = ["mem_used_percent"] }
        disk = { measurement = ["used_percent"], resources = ["/"] }
      }
    }
  }) : ""

  user_data = templatefile("${path.module}/../../../deploy/cloud-init/user-data.yaml.tftpl", {
    binary_url              = var.binary_url
    binary_sha256           = var.binary_sha256
    systemd_unit            = file("${path.module}/../../../deploy/systemd/shipshape.service")
    environment             = local.environment
    cloudwatch_agent_config = local.cloudwatch_agent_config
  })

  # Everything an instance boots with EXCEPT the release (binary_url/sha256), which the deploy path
  # changes in place. A change here replaces the VM / rolls the auto scaling group.
  boot_config_hash = sha256(jsonencode({
    template      = filesha256("${path.module}/../../../deploy/cloud-init/user-data.yaml.tftpl")
    unit          = filesha256("${path.module}/../../../deploy/systemd/shipshape.service")
    environment   = local.environment
    cloudwatch    = local.cloudwatch_agent_config
    instance_type = var.instance_type
    root_volume   = var.root_volume_size
    key_name      = var.key_name
  }))

  # Tag value the deploy path (SSM) targets.
  deploy_group = "${var.name}-aws-vm"
}

# =================================================================================================
# enable_scaling = false: one VM with an Elastic IP.
# =================================================================================================

resource "terraform_data" "vm_boot_config" {
  count = var.enable_scaling ? 0 : 1

  input = local.boot_config_hash
}

resource "aws_instance" "vm" {
  #checkov:skip=CKV_AWS_88:The seed's VM is public by design: it serves the internet on its Elastic IP / IPv6 address.
  count = var.enable_scaling ? 0 : 1

  ami                    = data.aws_ami.selected.id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.vm.id]
  iam_instance_profile   = aws_iam_instance_profile.instance.name
  key_name               = var.key_name
  ipv6_address_count     = 1
  monitoring             = true
  ebs_optimized          = true
  user_data              = local.user_data

  # IMDSv2 only, and not reachable from containers/forwarded hops.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    delete_on_termination = true
  }

  tags = {
    Name        = var.name
    DeployGroup = local.deploy_group
  }

  lifecycle {
    # New releases are installed in place by the SSM association below, and a new AMI id is published
    # every few weeks: neither should replace the only VM. Any other boot change does (boot_config_hash);
    # `terraform apply -replace=aws_instance.vm[0]` moves to the current AMI on purpose.
    ignore_changes       = [ami, user_data]
    replace_triggered_by = [terraform_data.vm_boot_config]
  }
}

resource "aws_eip" "vm" {
  count = var.enable_scaling ? 0 : 1

  domain = "vpc"
  tags   = { Name = var.name }

  depends_on = [aws_internet_gateway.main]
}

# Separate association, so a replaced VM gets the same public address.
resource "aws_eip_association" "vm" {
  count = var.enable_scaling ? 0 : 1

  allocation_id = aws_eip.vm[0].id
  instance_id   = aws_instance.vm[0].id
}

# =================================================================================================
# enable_scaling = true: launch template + auto scaling group over both AZs behind an HTTPS ALB.
# =================================================================================================

resource "aws_launch_template" "app" {
  count = var.enable_scaling ? 1 : 0

  name_prefix            = "${var.name}-"
  description            = "shipshape instances (boot config ${substr(local.boot_config_hash, 0, 12)})"
  image_id               = data.aws_ami.selected.id
  instance_type          = var.instance_type
  key_name               = var.key_name
  ebs_optimized          = true
  user_data              = base64encode(local.user_data)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  # No NAT gateway: instances reach the internet (release download, agents) over a public IPv4.
  network_interfaces {
    #checkov:skip=CKV_AWS_88:Public subnets without NAT; inbound is still only what the security group allows.
    device_index                = 0
    associate_public_ip_address = true
    ipv6_address_count          = 1
    security_groups             = [aws_security_group.vm.id]
    delete_on_termination       = true
  }

  block_device_mappings {
    device_name = data.aws_ami.selected.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      encrypted             = true
      delete_on_termination = true
    }
  }

  # default_tags do not reach instances an ASG launches; these do.
  tag_specifications {
    resource_type = "instance"
    tags          = merge(data.aws_default_tags.current.tags, { Name = var.name, DeployGroup = local.deploy_group })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(data.aws_default_tags.current.tags, { Name = var.name })
  }
}

resource "aws_lb" "app" {
  #checkov:skip=CKV_AWS_91:Access logs need an SSE-S3 bucket outside this stack; set alb_access_logs_bucket to enable them. VPC flow logs and WAF logs are always on.
  count = var.enable_scaling ? 1 : 0

  name                       = "${var.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  ip_address_type            = "dualstack"
  security_groups            = [aws_security_group.alb[0].id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == "" ? [] : [var.alb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "alb/${var.name}"
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the hop to the instances stays inside the VPC on port 80, which is the service's port.
  count = var.enable_scaling ? 1 : 0

  name_prefix = "ship-"
  port        = 80
  protocol    = "HTTP"
  vpc_id      = aws_vpc.main.id
  target_type = "instance"
  # /readyz turns 503 the moment shutdown starts; a short delay lets in-flight requests finish.
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  count = var.enable_scaling ? 1 : 0

  load_balancer_arn = aws_lb.app[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app[0].arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  count = var.enable_scaling ? 1 : 0

  load_balancer_arn = aws_lb.app[0].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_autoscaling_group" "app" {
  count = var.enable_scaling ? 1 : 0

  name_prefix               = "${var.name}-"
  min_size                  = var.asg_min_size
  max_size                  = var.asg_max_size
  vpc_zone_identifier       = aws_subnet.public[*].id
  target_group_arns         = [aws_lb_target_group.app[0].arn]
  health_check_type         = "ELB"
  health_check_grace_period = 180
  default_instance_warmup   = 120
  # apply returns only once min_size instances pass the ALB's /readyz check.
  min_elb_capacity          = var.asg_min_size
  wait_for_capacity_timeout = "15m"
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTotalInstances"]

  # A pinned version (not $Latest), so every launch template change starts the rolling refresh below
  # and a failed refresh can roll back.
  launch_template {
    id      = aws_launch_template.app[0].id
    version = aws_launch_template.app[0].latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      # Launch before terminate: capacity never drops below 100 % during a rollout.
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = 120
      auto_rollback          = true

      alarm_specification {
        alarms = [aws_cloudwatch_metric_alarm.unhealthy_hosts[0].alarm_name]
      }
    }
  }

  tag {
    key                 = "Name"
    value               = var.name
    propagate_at_launch = false
  }

  lifecycle {
    # Target tracking owns the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count = var.enable_scaling ? 1 : 0

  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.app[0].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

# =================================================================================================
# Deploy path for new releases: SSM Run Command (document below), driven by Terraform itself.
#   single VM:  `terraform apply` with a new binary_url/binary_sha256 updates the association, which
#               runs the document on the VM in place (download, verify sha256, swap, restart, /readyz,
#               automatic rollback to the previous binary on failure); apply waits for its success.
#   ASG:        the same variables change the launch template, which rolls an instance refresh
#               (new instances boot the release; ALB health gates it; auto rollback on failure).
# The document can also be run by hand (README: rollback, emergencies).
# =================================================================================================

resource "aws_ssm_document" "deploy" {
  name            = "${var.name}-deploy-release"
  document_type   = "Command"
  document_format = "JSON"
  target_type     = "/AWS::EC2::Instance"

  content = jsonencode({
    schemaVersion = "2.2"
    description   = "Install a shipshape release (URL + sha256) and restart the unit; roll back if it does not become ready."
    parameters = {
      action = {
        type          = "String"
        description   = "deploy: install binaryUrl; rollback: restore the binary that the last deploy replaced."
        allowedValues = ["deploy", "rollback"]
        default       = "deploy"
      }
      # The patterns keep the values from ever being shell syntax.
      binaryUrl = {
        type           = "String"
        description    = "https:// URL of the release binary"
        default        = ""
        allowedPattern = "^(https://[A-Za-z0-9._~:/?#@!$&()*+,;=%-]+)?$"
      }
      binarySha256 = {
        type           = "String"
        description    = "sha256 (64 lowercase hex) of the binary"
        default        = ""
        allowedPattern = "^([0-9a-f]{64})?$"
      }
    }
    mainSteps = [{
      action = "aws:runShellScript"
      name   = "installRelease"
      precondition = {
        StringEquals = ["platformType", "Linux"]
      }
      inputs = {
        timeoutSeconds = "600"
        runCommand     = [file("${path.module}/files/deploy-release.sh")]
      }
    }]
  })
}

resource "aws_ssm_association" "release" {
  count = var.enable_scaling ? 0 : 1

  name             = aws_ssm_document.deploy.name
  association_name = "${var.name}-release"
  document_version = aws_ssm_document.deploy.default_version
  max_concurrency  = "1"
  max_errors       = "0"
  # Terraform fails the apply if the release did not install and pass /readyz.
  wait_for_success_timeout_seconds = 900

  targets {
    key    = "InstanceIds"
    values = [aws_instance.vm[0].id]
  }

  parameters = {
    action       = "deploy"
    binaryUrl    = var.binary_url
    binarySha256 = var.binary_sha256
  }

  lifecycle {
    precondition {
      condition     = startswith(var.binary_url, "https://")
      error_message = "A real VM needs an https:// binary_url (file:// is for the local boot test only)."
    }
  }
}
