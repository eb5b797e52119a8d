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

# ---- where releases come from: the bootstrap's bucket and signing key, in this region only -----------

data "aws_s3_bucket" "releases" {
  bucket = var.release_bucket

  lifecycle {
    # The instance role, the S3 gateway endpoint and the regional endpoint the VM signs for all assume
    # the bucket is in this stack's region (and so is the bootstrap with its CI roles).
    postcondition {
      condition     = self.region == local.region
      error_message = "The release bucket ${var.release_bucket} is in ${self.region}, this stack in ${local.region}: set region to the bootstrap's region (one region for the bootstrap and the VM stack)."
    }
  }
}

data "aws_kms_public_key" "release_signing" {
  key_id = var.release_signing_key

  lifecycle {
    postcondition {
      condition     = split(":", self.arn)[3] == local.region
      error_message = "The release signing key ${self.arn} is not in ${local.region}: use the bootstrap's key, in the bootstrap's region."
    }
    postcondition {
      condition     = self.customer_master_key_spec == "ECC_NIST_P256" && self.key_usage == "SIGN_VERIFY"
      error_message = "The release signing key must be an ECC_NIST_P256 SIGN_VERIFY key (what cosign sign-blob --key awskms://... signs with)."
    }
  }
}

# ---- what every instance boots with -----------------------------------------------------------------

locals {
  # File that the vm-boot module's shipshape-journal-export unit fills from the unit's journal.
  app_log_file = "/var/log/shipshape/shipshape.log"

  cloudwatch_agent_config = var.enable_cloudwatch_agent ? jsonencode({
    agent = { metrics_collection_interval = 60 }
    logs = {
      logs_collected = {
        files = {
          collect_list = [{
            file_path       = local.app_log_file
            log_group_name  = "/shipshape/${var.name}/app"
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

  release_source = {
    source         = "s3"
    bucket         = var.release_bucket
    prefix         = var.release_prefix
    endpoint       = "https://${var.release_bucket}.s3.${local.region}.amazonaws.com"
    region         = local.region
    public_key_pem = data.aws_kms_public_key.release_signing.public_key_pem
  }

  # Tag value the deploy trigger (SSM) targets.
  deploy_group = "${var.name}-aws-vm"
}

# The single VM: its database on the data volume (Nitro instances name EBS volumes by id under
# /dev/disk/by-id), so a replaced VM finds its users again.
module "boot_vm" {
  source = "../../modules/vm-boot"

  name                    = var.name
  release                 = local.release_source
  environment             = var.environment
  cloudwatch_agent_config = local.cloudwatch_agent_config
  data_disk_device        = var.enable_scaling ? null : "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${replace(aws_ebs_volume.data[0].id, "-", "")}"
}

# Scaling mode: no per-instance data (the ALB keeps the users API away from the instances).
module "boot_asg" {
  source = "../../modules/vm-boot"

  name                    = var.name
  release                 = local.release_source
  environment             = var.environment
  cloudwatch_agent_config = local.cloudwatch_agent_config
}

locals {
  # Everything an instance boots with (never the release, which the VM reads itself). A change here
  # replaces the single VM (its data volume moves over) or rolls the auto scaling group.
  boot_config_hash = sha256(jsonencode({
    user_data     = var.enable_scaling ? module.boot_asg.user_data : module.boot_vm.user_data
    instance_type = var.instance_type
    root_volume   = var.root_volume_size
    key_name      = var.key_name
  }))
}

# =================================================================================================
# enable_scaling = false: one VM with an Elastic IP.
# =================================================================================================

resource "terraform_data" "vm_boot_config" {
  count = var.enable_scaling ? 0 : 1

  input = local.boot_config_hash
}

resource "aws_instance" "vm" {
  #checkov:skip=CKV_AWS_88:The VM is public by design: it serves the internet on its Elastic IP / IPv6 address.
  count = var.enable_scaling ? 0 : 1

  ami                    = data.aws_ami.selected.id
  instance_type          = var.instance_type
  subnet_id              = module.network.public_subnet_ids[0]
  vpc_security_group_ids = [aws_security_group.vm.id]
  iam_instance_profile   = aws_iam_instance_profile.instance.name
  key_name               = var.key_name
  ipv6_address_count     = 1
  monitoring             = true
  ebs_optimized          = true
  user_data              = module.boot_vm.user_data

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
    # Releases never touch the instance (the VM installs them in place), and a new AMI id every few
    # weeks must not replace the only VM. Any boot change does (boot_config_hash); the data volume and
    # the Elastic IP move over. `terraform apply -replace=aws_instance.vm[0]` moves to the current AMI.
    ignore_changes       = [ami, user_data]
    replace_triggered_by = [terraform_data.vm_boot_config]
  }
}

resource "aws_ebs_volume" "data" {
  count = var.enable_scaling ? 0 : 1

  availability_zone = local.azs[0]
  type              = "gp3"
  size              = var.data_volume_size
  encrypted         = true
  # The stack's own key: who may read the users' data (snapshots included) is this key's policy.
  kms_key_id = aws_kms_key.data[0].arn

  tags = { Name = "${var.name}-data" }

  lifecycle {
    # The users live here.
    prevent_destroy = true
  }
}

resource "aws_volume_attachment" "data" {
  count = var.enable_scaling ? 0 : 1

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[0].id
  instance_id = aws_instance.vm[0].id
  # A replaced VM stops first, so the file system is unmounted cleanly before the volume moves.
  stop_instance_before_detaching = true
}

resource "aws_eip" "vm" {
  count = var.enable_scaling ? 0 : 1

  domain = "vpc"
  tags   = { Name = var.name }

  depends_on = [module.network]
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
  user_data              = base64encode(module.boot_asg.user_data)
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
  subnets                    = module.network.public_subnet_ids
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
  vpc_id      = module.network.vpc_id
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

# Each instance of the group would keep its own SQLite file: a user created through one instance would
# be missing (404) on the next, and an instance refresh would delete it. Until the stack has a shared
# database, the ALB serves /hello and answers the whole users API itself with a clear error, so the
# table never splits silently.
resource "aws_lb_listener_rule" "users_api_unavailable" {
  count = var.enable_scaling ? 1 : 0

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/api", "/api/*"]
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      status_code  = "501"
      content_type = "application/json"
      message_body = jsonencode({ error = "the users API is not available in the scaling configuration (no shared database); use the single-VM configuration or the EKS deployment" })
    }
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
  vpc_zone_identifier       = module.network.public_subnet_ids
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
# Deploy trigger: the pipeline writes the release pointer, then runs this document on every instance
# of the deploy group (one at a time, no error tolerated): the instance's own agent reads the pointer,
# verifies and installs the release, waits for /readyz and rolls back by itself. The agent's timer
# does the same every minute, so an instance that missed the command (or boots later) converges.
# =================================================================================================

resource "aws_ssm_document" "deploy" {
  name            = "${var.name}-deploy-release"
  document_type   = "Command"
  document_format = "JSON"
  target_type     = "/AWS::EC2::Instance"

  content = jsonencode({
    schemaVersion = "2.2"
    description   = "Install the release the release pointer names (shipshape-release deploy): verified, in place, rolled back if not ready."
    mainSteps = [{
      action = "aws:runShellScript"
      name   = "installRelease"
      precondition = {
        StringEquals = ["platformType", "Linux"]
      }
      inputs = {
        timeoutSeconds = "900"
        runCommand     = ["cloud-init status --wait >/dev/null || true", "exec /usr/local/sbin/shipshape-release deploy"]
      }
    }]
  })
}
