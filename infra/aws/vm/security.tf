data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
}

# =================================================================================================
# Firewall of the VM(s): exactly the seed's rules, one rule per resource.
#   ingress: TCP 80/443 from 0.0.0.0/0 and ::/0; ICMP echo from everywhere; TCP 22 from 104.154.0.0/15
#            only; all TCP and all UDP from the VPC CIDR. Nothing else (security groups deny by default).
#   egress:  everything (the TCP 6881-6889 deny lives in the network ACL below: SGs cannot deny).
# tests/infra/test_aws_vm.py asserts this list rule by rule.
# =================================================================================================

resource "aws_security_group" "vm" {
  name_prefix = "${var.name}-vm-"
  description = "shipshape VM: web, ping, SSH from 104.154.0.0/15, VPC-internal TCP/UDP"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-vm" }

  # Instances keep a security group at all times while it is replaced.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "vm_http_ipv4" {
  #checkov:skip=CKV_AWS_260:The seed requires the hello page on port 80 from the whole internet.
  security_group_id = aws_security_group.vm.id
  description       = "HTTP from everywhere (IPv4)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "vm_http_ipv6" {
  security_group_id = aws_security_group.vm.id
  description       = "HTTP from everywhere (IPv6)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "vm_https_ipv4" {
  security_group_id = aws_security_group.vm.id
  description       = "HTTPS from everywhere (IPv4)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "vm_https_ipv6" {
  security_group_id = aws_security_group.vm.id
  description       = "HTTPS from everywhere (IPv6)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = "::/0"
}

# For ICMP rules from_port is the ICMP type and to_port the code: 8/-1 = echo request, any code.
resource "aws_vpc_security_group_ingress_rule" "vm_ping_ipv4" {
  security_group_id = aws_security_group.vm.id
  description       = "ICMP echo request (ping) from everywhere (IPv4)"
  ip_protocol       = "icmp"
  from_port         = 8
  to_port           = -1
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "vm_ping_ipv6" {
  security_group_id = aws_security_group.vm.id
  description       = "ICMPv6 echo request (ping) from everywhere (IPv6)"
  ip_protocol       = "icmpv6"
  from_port         = 128
  to_port           = -1
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "vm_ssh_google" {
  security_group_id = aws_security_group.vm.id
  description       = "SSH from 104.154.0.0/15 (GOOGLE LLC) only"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = "104.154.0.0/15"
}

resource "aws_vpc_security_group_ingress_rule" "vm_vpc_tcp" {
  security_group_id = aws_security_group.vm.id
  description       = "All TCP from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = aws_vpc.main.cidr_block
}

resource "aws_vpc_security_group_ingress_rule" "vm_vpc_udp" {
  security_group_id = aws_security_group.vm.id
  description       = "All UDP from inside the VPC"
  ip_protocol       = "udp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = aws_vpc.main.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "vm_all_ipv4" {
  #checkov:skip=CKV_AWS_382:The seed requires all egress; the one denied range (TCP 6881-6889) is in the network ACL.
  security_group_id = aws_security_group.vm.id
  description       = "All egress (IPv4); TCP 6881-6889 is denied by the network ACL"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "vm_all_ipv6" {
  security_group_id = aws_security_group.vm.id
  description       = "All egress (IPv6); TCP 6881-6889 is denied by the network ACL"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
}

# The VPC's default security group: no rules at all, so nothing that lands in it by mistake is reachable.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-default-unused" }
}

# =================================================================================================
# Network ACL of the public subnets. Its job is the one thing security groups cannot do: deny egress
# TCP 6881-6889. ACLs are stateless, so it must also pass, explicitly, every packet the (stateful)
# security group relies on in both directions:
#   inbound:  the SG's allowed ingress (same list, for defence in depth) PLUS the replies to the
#             instances' own outbound connections: TCP/UDP to the Linux ephemeral ports 32768-65535
#             (Debian's ip_local_port_range is 32768-60999) and the ICMP replies/errors (echo reply,
#             destination unreachable incl. "fragmentation needed"/"packet too big" for path-MTU
#             discovery, time exceeded).
#   outbound: deny TCP 6881-6889 first, then allow everything, which also carries the replies to
#             inbound connections (they go to the client's ephemeral port).
# Known cost of statelessness: a reply to a client whose *source* port is 6881-6889 is also dropped,
# since an ACL sees only the destination port. No common OS picks ephemeral ports there (Linux
# 32768-60999, Windows/macOS 49152-65535); a NAT that does makes that one connection fail.
# Amazon DNS, NTP and instance metadata are link-local and never pass through ACLs.
# =================================================================================================

resource "aws_network_acl" "public" {
  vpc_id     = aws_vpc.main.id
  subnet_ids = aws_subnet.public[*].id

  tags = { Name = "${var.name}-public" }
}

# ---- outbound -------------------------------------------------------------------------------------

resource "aws_network_acl_rule" "out_deny_bittorrent_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = true
  rule_number    = 100
  rule_action    = "deny"
  protocol       = "tcp"
  from_port      = 6881
  to_port        = 6889
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "out_deny_bittorrent_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = true
  rule_number     = 101
  rule_action     = "deny"
  protocol        = "tcp"
  from_port       = 6881
  to_port         = 6889
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "out_allow_all_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = true
  rule_number    = 200
  rule_action    = "allow"
  protocol       = "-1"
  from_port      = 0
  to_port        = 0
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "out_allow_all_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = true
  rule_number     = 201
  rule_action     = "allow"
  protocol        = "-1"
  from_port       = 0
  to_port         = 0
  ipv6_cidr_block = "::/0"
}

# ---- inbound: the security group's ingress ----------------------------------------------------------

resource "aws_network_acl_rule" "in_http_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 100
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 80
  to_port        = 80
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_http_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 101
  rule_action     = "allow"
  protocol        = "tcp"
  from_port       = 80
  to_port         = 80
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_https_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 110
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 443
  to_port        = 443
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_https_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 111
  rule_action     = "allow"
  protocol        = "tcp"
  from_port       = 443
  to_port         = 443
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_ssh_google" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 120
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 22
  to_port        = 22
  cidr_block     = "104.154.0.0/15"
}

resource "aws_network_acl_rule" "in_vpc_tcp" {
  #checkov:skip=CKV_AWS_352:The seed requires all TCP and UDP from inside the VPC; the source is the VPC CIDR only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 130
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 0
  to_port        = 65535
  cidr_block     = aws_vpc.main.cidr_block
}

resource "aws_network_acl_rule" "in_vpc_udp" {
  #checkov:skip=CKV_AWS_352:The seed requires all TCP and UDP from inside the VPC; the source is the VPC CIDR only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 131
  rule_action    = "allow"
  protocol       = "udp"
  from_port      = 0
  to_port        = 65535
  cidr_block     = aws_vpc.main.cidr_block
}

resource "aws_network_acl_rule" "in_ping_ipv4" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 140
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 8
  icmp_code      = -1
  cidr_block     = "0.0.0.0/0"
}

# Protocol 58 = ICMPv6.
resource "aws_network_acl_rule" "in_ping_ipv6" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 141
  rule_action     = "allow"
  protocol        = "58"
  icmp_type       = 128
  icmp_code       = -1
  ipv6_cidr_block = "::/0"
}

# ---- inbound: replies to the instances' own outbound traffic --------------------------------------

resource "aws_network_acl_rule" "in_echo_reply_ipv4" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 150
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 0
  icmp_code      = -1
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_echo_reply_ipv6" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 151
  rule_action     = "allow"
  protocol        = "58"
  icmp_type       = 129
  icmp_code       = -1
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_unreachable_ipv4" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 160
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 3
  icmp_code      = -1
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_unreachable_ipv6" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 161
  rule_action     = "allow"
  protocol        = "58"
  icmp_type       = 1
  icmp_code       = -1
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_packet_too_big_ipv6" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 162
  rule_action     = "allow"
  protocol        = "58"
  icmp_type       = 2
  icmp_code       = -1
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_time_exceeded_ipv4" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 170
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 11
  icmp_code      = -1
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_time_exceeded_ipv6" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits one ICMP type only.
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 171
  rule_action     = "allow"
  protocol        = "58"
  icmp_type       = 3
  icmp_code       = -1
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_ephemeral_tcp_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 180
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 32768
  to_port        = 65535
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_ephemeral_tcp_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 181
  rule_action     = "allow"
  protocol        = "tcp"
  from_port       = 32768
  to_port         = 65535
  ipv6_cidr_block = "::/0"
}

resource "aws_network_acl_rule" "in_ephemeral_udp_ipv4" {
  network_acl_id = aws_network_acl.public.id
  egress         = false
  rule_number    = 190
  rule_action    = "allow"
  protocol       = "udp"
  from_port      = 32768
  to_port        = 65535
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "in_ephemeral_udp_ipv6" {
  network_acl_id  = aws_network_acl.public.id
  egress          = false
  rule_number     = 191
  rule_action     = "allow"
  protocol        = "udp"
  from_port       = 32768
  to_port         = 65535
  ipv6_cidr_block = "::/0"
}

# The VPC's default ACL is left attached to no subnet; managing it with no rules makes it deny-all.
resource "aws_default_network_acl" "default" {
  default_network_acl_id = aws_vpc.main.default_network_acl_id

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
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_ipv4" {
  #checkov:skip=CKV_AWS_260:Port 80 on the ALB only answers with a redirect to HTTPS.
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from everywhere (IPv4), redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_ipv6" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from everywhere (IPv6), redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_ipv4" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS from everywhere (IPv4)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https_ipv6" {
  count = var.enable_scaling ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS from everywhere (IPv6)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = "::/0"
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

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name_prefix        = "${var.name}-vm-"
  description        = "shipshape VM: SSM Session Manager / Run Command, CloudWatch agent"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Session Manager (instead of SSH) and Run Command (the deploy path).
resource "aws_iam_role_policy_attachment" "instance_ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "instance" {
  # The CloudWatch agent (journal) and SSM Run Command (deploy output) write only their own groups.
  statement {
    sid     = "WriteOwnLogGroups"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [
      "${aws_cloudwatch_log_group.app.arn}:*",
      "${aws_cloudwatch_log_group.deploy.arn}:*",
    ]
  }

  # PutMetricData has no resource type; the namespace condition keeps it to the agent's metrics.
  statement {
    sid       = "AgentMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["CWAgent"]
    }
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "shipshape-logs-and-metrics"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-vm-"
  role        = aws_iam_role.instance.name
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    # Confused-deputy guard: only flow logs of this account may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc-flow-log/*"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name_prefix        = "${var.name}-flowlogs-"
  description        = "Delivers the shipshape VPC flow logs to CloudWatch Logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
  statement {
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "deliver-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# =================================================================================================
# KMS key for every log group of the stack.
# =================================================================================================

data "aws_iam_policy_document" "logs_key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account root keeps administration so the key can never become unmanageable.
  #checkov:skip=CKV_AWS_111:Same: key policies are scoped to their key, and the root statement is AWS's required default.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts/decrypts on behalf of writers and readers, only for this stack's groups.
  statement {
    sid       = "CloudWatchLogsUsesKey"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/shipshape/${var.name}/*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${var.name}*",
      ]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "shipshape ${var.name}: CloudWatch log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
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
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "alb" {
  count = local.waf_enabled ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.alb[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]
}
