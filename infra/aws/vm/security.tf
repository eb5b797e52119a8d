data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
}

# =================================================================================================
# Firewall of the VM(s), from ONE table (local.vm_ingress): the security group's rules and the network
# ACL's are both generated from it, so they cannot drift apart.
#   ingress: TCP 80/443 from 0.0.0.0/0 and ::/0; ICMP echo from everywhere; TCP 22 from 104.154.0.0/15
#            only; all TCP and all UDP from the VPC CIDR. Nothing else (security groups deny by default).
#   egress:  everything, except TCP 6881-6889, which the network ACL denies (SGs cannot deny).
# tests/infra/test_aws_vm.py evaluates the planned rules (SG and ACL, first match) against probes.
# =================================================================================================

locals {
  # protocol: tcp | udp | icmp | icmpv6; from/to: ports, or ICMP type / code (-1 = any code).
  vm_ingress = {
    http_ipv4  = { protocol = "tcp", from = 80, to = 80, cidr = "0.0.0.0/0", what = "HTTP from everywhere" }
    http_ipv6  = { protocol = "tcp", from = 80, to = 80, cidr = "::/0", what = "HTTP from everywhere" }
    https_ipv4 = { protocol = "tcp", from = 443, to = 443, cidr = "0.0.0.0/0", what = "HTTPS from everywhere" }
    https_ipv6 = { protocol = "tcp", from = 443, to = 443, cidr = "::/0", what = "HTTPS from everywhere" }
    ping_ipv4  = { protocol = "icmp", from = 8, to = -1, cidr = "0.0.0.0/0", what = "ICMP echo request (ping) from everywhere" }
    ping_ipv6  = { protocol = "icmpv6", from = 128, to = -1, cidr = "::/0", what = "ICMPv6 echo request (ping) from everywhere" }
    ssh_google = { protocol = "tcp", from = 22, to = 22, cidr = "104.154.0.0/15", what = "SSH from 104.154.0.0/15 (GOOGLE LLC) only" }
    vpc_tcp    = { protocol = "tcp", from = 0, to = 65535, cidr = var.vpc_cidr, what = "All TCP from inside the VPC" }
    vpc_udp    = { protocol = "udp", from = 0, to = 65535, cidr = var.vpc_cidr, what = "All UDP from inside the VPC" }
  }

  # The ACL is stateless: besides the table above it must pass the replies to the instances' own
  # outbound traffic (TCP/UDP to the Linux ephemeral ports, ICMP echo reply, unreachable incl.
  # "fragmentation needed"/"packet too big" for path-MTU discovery, time exceeded).
  nacl_replies = {
    echo_reply_ipv4    = { protocol = "icmp", from = 0, to = -1, cidr = "0.0.0.0/0" }
    echo_reply_ipv6    = { protocol = "icmpv6", from = 129, to = -1, cidr = "::/0" }
    unreachable_ipv4   = { protocol = "icmp", from = 3, to = -1, cidr = "0.0.0.0/0" }
    unreachable_ipv6   = { protocol = "icmpv6", from = 1, to = -1, cidr = "::/0" }
    too_big_ipv6       = { protocol = "icmpv6", from = 2, to = -1, cidr = "::/0" }
    time_exceeded_ipv4 = { protocol = "icmp", from = 11, to = -1, cidr = "0.0.0.0/0" }
    time_exceeded_ipv6 = { protocol = "icmpv6", from = 3, to = -1, cidr = "::/0" }
    ephemeral_tcp_ipv4 = { protocol = "tcp", from = 32768, to = 65535, cidr = "0.0.0.0/0" }
    ephemeral_tcp_ipv6 = { protocol = "tcp", from = 32768, to = 65535, cidr = "::/0" }
    ephemeral_udp_ipv4 = { protocol = "udp", from = 32768, to = 65535, cidr = "0.0.0.0/0" }
    ephemeral_udp_ipv6 = { protocol = "udp", from = 32768, to = 65535, cidr = "::/0" }
  }

  # Egress: the one deny first, then everything.
  nacl_egress = {
    deny_bittorrent_ipv4 = { number = 100, action = "deny", protocol = "tcp", from = 6881, to = 6889, cidr = "0.0.0.0/0" }
    deny_bittorrent_ipv6 = { number = 101, action = "deny", protocol = "tcp", from = 6881, to = 6889, cidr = "::/0" }
    allow_all_ipv4       = { number = 200, action = "allow", protocol = "-1", from = 0, to = 0, cidr = "0.0.0.0/0" }
    allow_all_ipv6       = { number = 201, action = "allow", protocol = "-1", from = 0, to = 0, cidr = "::/0" }
  }

  # Inbound ACL rules: the SG's table then the replies, numbered 100, 101, ... in that order (all
  # allows, so the order among them does not change what passes).
  nacl_ingress_list = concat(
    [for k in sort(keys(local.vm_ingress)) : merge(local.vm_ingress[k], { key = k })],
    [for k in sort(keys(local.nacl_replies)) : merge(local.nacl_replies[k], { key = "reply_${k}" })],
  )
  nacl_ingress = { for i, r in local.nacl_ingress_list : r.key => merge(r, { number = 100 + i, action = "allow" }) }
  # ACLs number ICMPv6 as protocol 58 and take ICMP type/code in their own arguments.
  nacl_protocol = { tcp = "tcp", udp = "udp", icmp = "icmp", icmpv6 = "58", "-1" = "-1" }
}

resource "aws_security_group" "vm" {
  name_prefix = "${var.name}-vm-"
  description = "shipshape VM: web, ping, SSH from 104.154.0.0/15, VPC-internal TCP/UDP"
  vpc_id      = module.network.vpc_id

  tags = { Name = "${var.name}-vm" }

  # Instances keep a security group at all times while it is replaced.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "vm" {
  #checkov:skip=CKV_AWS_260:Port 80 from the whole internet is the service's contract.
  #checkov:skip=CKV_AWS_24:SSH is open only from 104.154.0.0/15, as the firewall table states.
  #checkov:skip=CKV_AWS_25:No RDP rule exists; the table is exact.
  for_each = local.vm_ingress

  security_group_id = aws_security_group.vm.id
  description       = each.value.what
  ip_protocol       = each.value.protocol
  from_port         = each.value.from
  to_port           = each.value.to
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

resource "aws_vpc_security_group_egress_rule" "vm" {
  #checkov:skip=CKV_AWS_382:All egress is the firewall's contract; the one denied range (TCP 6881-6889) is in the network ACL.
  for_each = { ipv4 = "0.0.0.0/0", ipv6 = "::/0" }

  security_group_id = aws_security_group.vm.id
  description       = "All egress (${each.key}); TCP 6881-6889 is denied by the network ACL"
  ip_protocol       = "-1"
  cidr_ipv4         = each.key == "ipv4" ? each.value : null
  cidr_ipv6         = each.key == "ipv6" ? each.value : null
}

# =================================================================================================
# Network ACL of the public subnets: its job is the one thing security groups cannot do, deny egress
# TCP 6881-6889; being stateless, it also passes every packet the (stateful) SG relies on, both ways.
# Known cost: a reply to a client whose *source* port is 6881-6889 is dropped too (an ACL sees only
# the destination port). No common OS picks ephemeral ports there (Linux 32768-60999, Windows/macOS
# 49152-65535). Amazon DNS, NTP and instance metadata are link-local and never pass through ACLs.
# =================================================================================================

resource "aws_network_acl" "public" {
  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.public_subnet_ids

  tags = { Name = "${var.name}-public" }
}

resource "aws_network_acl_rule" "egress" {
  for_each = local.nacl_egress

  network_acl_id  = aws_network_acl.public.id
  egress          = true
  rule_number     = each.value.number
  rule_action     = each.value.action
  protocol        = local.nacl_protocol[each.value.protocol]
  from_port       = each.value.from
  to_port         = each.value.to
  cidr_block      = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  ipv6_cidr_block = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

resource "aws_network_acl_rule" "ingress" {
  #checkov:skip=CKV_AWS_352:Generated from the firewall table: VPC-internal TCP/UDP and single ICMP types, as stated there.
  for_each = local.nacl_ingress

  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = each.value.number
  rule_action     = each.value.action
  protocol        = local.nacl_protocol[each.value.protocol]
  from_port       = contains(["icmp", "icmpv6"], each.value.protocol) ? null : each.value.from
  to_port         = contains(["icmp", "icmpv6"], each.value.protocol) ? null : each.value.to
  icmp_type       = contains(["icmp", "icmpv6"], each.value.protocol) ? each.value.from : null
  icmp_code       = contains(["icmp", "icmpv6"], each.value.protocol) ? each.value.to : null
  cidr_block      = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  ipv6_cidr_block = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

# The VPC's default ACL is left attached to no subnet; managing it with no rules makes it deny-all.
resource "aws_default_network_acl" "default" {
  default_network_acl_id = module.network.default_network_acl_id

  tags = { Name = "${var.name}-default-unused" }

  lifecycle {
    # Subnets move to aws_network_acl.public; don't fight that here.
    ignore_changes = [subnet_ids]
  }
}

# =================================================================================================
# Load balancer firewall (enable_scaling): HTTP/HTTPS in, and out only to the instances' port 80.
# =================================================================================================

resource "aws_security_group" "alb" {
  count = var.enable_scaling ? 1 : 0

  name_prefix = "${var.name}-alb-"
  description = "shipshape ALB: HTTP/HTTPS from everywhere, to the instances on 80"
  vpc_id      = module.network.vpc_id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # The ALB's inbound rules: HTTP (answered with a redirect) and HTTPS, IPv4 and IPv6.
  alb_ingress = {
    http_ipv4  = { port = 80, cidr = "0.0.0.0/0", what = "HTTP from everywhere (IPv4), redirected to HTTPS" }
    http_ipv6  = { port = 80, cidr = "::/0", what = "HTTP from everywhere (IPv6), redirected to HTTPS" }
    https_ipv4 = { port = 443, cidr = "0.0.0.0/0", what = "HTTPS from everywhere (IPv4)" }
    https_ipv6 = { port = 443, cidr = "::/0", what = "HTTPS from everywhere (IPv6)" }
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  #checkov:skip=CKV_AWS_260:Port 80 on the ALB only answers with a redirect to HTTPS.
  for_each = var.enable_scaling ? local.alb_ingress : {}

  security_group_id = aws_security_group.alb[0].id
  description       = each.value.what
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

# The rules were four resources before: their state moves to the table's keys (no rule is re-created,
# so the ALB never loses a rule during the apply).
moved {
  from = aws_vpc_security_group_ingress_rule.alb_http_ipv4[0]
  to   = aws_vpc_security_group_ingress_rule.alb["http_ipv4"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.alb_http_ipv6[0]
  to   = aws_vpc_security_group_ingress_rule.alb["http_ipv6"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.alb_https_ipv4[0]
  to   = aws_vpc_security_group_ingress_rule.alb["https_ipv4"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.alb_https_ipv6[0]
  to   = aws_vpc_security_group_ingress_rule.alb["https_ipv6"]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_instances" {
  count = var.enable_scaling ? 1 : 0

  security_group_id            = aws_security_group.alb[0].id
  description                  = "Traffic and health checks to the instances' port 80"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_security_group.vm.id
}

# =================================================================================================
# IAM: the instances' role (SSM + writing their own log groups) and the flow-log delivery role.
# =================================================================================================

resource "aws_iam_role" "instance" {
  name_prefix = "${var.name}-vm-"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  description          = "shipshape VM: SSM Session Manager / Run Command, release reads, CloudWatch agent"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
}

# Session Manager (instead of SSH) and Run Command (the deploy trigger).
resource "aws_iam_role_policy_attachment" "instance_ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

locals {
  # The instance reads releases with its own identity: the pointer and releases/ under the prefix,
  # nothing else of the bucket (and no list, no write) — the same objects the bootstrap's stack
  # boundary lets a stack role read.
  release_objects_arn = [
    "arn:${local.partition}:s3:::${var.release_bucket}/${var.release_prefix}current.json",
    "arn:${local.partition}:s3:::${var.release_bucket}/${var.release_prefix}releases/*",
  ]

  instance_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadReleases"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = local.release_objects_arn
      },
      # The CloudWatch agent (journal) and SSM Run Command (deploy output) write only their own groups.
      {
        Sid    = "WriteOwnLogGroups"
        Effect = "Allow"
        Action = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = [
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/shipshape/${var.name}/app:*",
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/shipshape/${var.name}/deploy:*",
        ]
      },
      # PutMetricData has no resource type; the namespace condition keeps it to the agent's metrics.
      {
        Sid       = "AgentMetrics"
        Effect    = "Allow"
        Action    = "cloudwatch:PutMetricData"
        Resource  = "*"
        Condition = { StringEquals = { "cloudwatch:namespace" = "CWAgent" } }
      },
    ]
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "shipshape-releases-logs-metrics"
  role   = aws_iam_role.instance.id
  policy = jsonencode(local.instance_policy)
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-vm-"
  role        = aws_iam_role.instance.name
}

resource "aws_iam_role" "flow_logs" {
  name_prefix = "${var.name}-flowlogs-"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  description          = "Delivers the shipshape VPC flow logs to CloudWatch Logs"
  # Confused-deputy guard: only flow logs of this account may use the role.
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc-flow-log/*" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "deliver-flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/shipshape/${var.name}/vpc-flow-logs:*"
      },
      {
        Effect   = "Allow"
        Action   = "logs:DescribeLogGroups"
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
      },
    ]
  })
}

# =================================================================================================
# KMS key for every log group of the stack.
# =================================================================================================

# The account root keeps administration (AWS's required default: the key never becomes unmanageable);
# CloudWatch Logs may use it only for this stack's log groups (its own and the WAF's).
# "-vm-": infra/aws/eks (same name, same region) has its own alias/<name>-logs.
module "log_key" {
  source = "../../modules/aws-log-key"

  name        = "${var.name}-vm-logs"
  description = "shipshape ${var.name}: CloudWatch log groups"
  log_groups  = ["/shipshape/${var.name}/*", "aws-waf-logs-${var.name}*"]
  account_id  = local.account_id
  partition   = local.partition
  region      = local.region
}

# The key was written here before infra/modules/aws-log-key: its state moves, the key stays (a destroyed
# key would leave every log group it encrypts unreadable).
moved {
  from = aws_kms_key.logs
  to   = module.log_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.logs
  to   = module.log_key.aws_kms_alias.this
}

# =================================================================================================
# KMS key of the single VM's data volume (the SQLite database with the users).
# =================================================================================================

resource "aws_kms_key" "data" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account root keeps administration so the key can never become unmanageable.
  #checkov:skip=CKV_AWS_111:Same: key policies are scoped to their key, and the root statement is AWS's required default.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  count = var.enable_scaling ? 0 : 1

  description             = "shipshape ${var.name}: the VM's data volume (users database)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # Only the account's IAM policies decide who uses it (AWS's default key policy): EBS uses the key on
  # behalf of whoever creates or attaches the volume (the apply role's StackKeys statement, through a
  # grant EC2 makes), the instance itself needs no key permission, and nothing outside the account can
  # be granted its use. Snapshots of the volume stay encrypted with it.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountDelegatesToIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  lifecycle {
    # Deleting the key makes the volume and its snapshots unreadable: the users would be lost.
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "data" {
  count = var.enable_scaling ? 0 : 1

  name          = "alias/${var.name}-vm-data"
  target_key_id = aws_kms_key.data[0].key_id
}

# =================================================================================================
# Optional WAF on the ALB: AWS managed rule groups, logged to a KMS-encrypted log group.
# =================================================================================================

locals {
  waf_enabled = var.enable_scaling && var.enable_waf
}

resource "aws_wafv2_web_acl" "alb" {
  count = local.waf_enabled ? 1 : 0

  name        = "${var.name}-alb"
  description = "shipshape ALB: AWS managed rule groups"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  # Requests from addresses AWS threat intelligence lists as malicious.
  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      sampled_requests_enabled   = true
      metric_name                = "AWSManagedRulesAmazonIpReputationList"
    }
  }

  # Tor exit nodes and anonymising VPNs are blocked; hosting-provider addresses (other clouds, where
  # legitimate API clients live too) are only counted.
  rule {
    name     = "AWSManagedRulesAnonymousIpList"
    priority = 15

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      sampled_requests_enabled   = true
      metric_name                = "AWSManagedRulesAnonymousIpList"
    }
  }

  # OWASP-style common exploits.
  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      sampled_requests_enabled   = true
      metric_name                = "AWSManagedRulesCommonRuleSet"
    }
  }

  # Known-bad request patterns, including Log4j (CVE-2021-44228) lookups.
  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      sampled_requests_enabled   = true
      metric_name                = "AWSManagedRulesKnownBadInputsRuleSet"
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    sampled_requests_enabled   = true
    metric_name                = "${var.name}-alb"
  }
}

resource "aws_wafv2_web_acl_association" "alb" {
  count = local.waf_enabled ? 1 : 0

  resource_arn = aws_lb.app[0].arn
  web_acl_arn  = aws_wafv2_web_acl.alb[0].arn
}

# WAF insists on the aws-waf-logs- name prefix.
resource "aws_cloudwatch_log_group" "waf" {
  count = local.waf_enabled ? 1 : 0

  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "alb" {
  count = local.waf_enabled ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.alb[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]
}
