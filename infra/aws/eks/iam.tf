# Every policy is written here as aws_iam_policy_document; AWS-managed policies are attached only where
# AWS documents them as the required set (EKS Auto Mode cluster and node roles, RDS monitoring).

# ---------------------------------------------------------------------------------------------------
# EKS cluster role (Auto Mode manages EC2 instances, EBS volumes, load balancers and ENIs with it).
# ---------------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "cluster_trust" {
  statement {
    sid     = "EksControlPlane"
    actions = ["sts:AssumeRole", "sts:TagSession"] # TagSession: Auto Mode tags the sessions it opens
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.cluster_trust.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  for_each = toset([
    "AmazonEKSClusterPolicy",       # the control plane itself
    "AmazonEKSComputePolicy",       # Auto Mode: launch/terminate nodes
    "AmazonEKSBlockStoragePolicy",  # Auto Mode: EBS volumes for PersistentVolumeClaims
    "AmazonEKSLoadBalancingPolicy", # Auto Mode: ALB/NLB for Ingress and Service type LoadBalancer
    "AmazonEKSNetworkingPolicy",    # Auto Mode: ENIs and prefixes for pods
  ])

  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

# ---------------------------------------------------------------------------------------------------
# Auto Mode node role (EKS creates its EC2 access entry itself because it is the cluster's node role).
# ---------------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "node_trust" {
  statement {
    sid     = "Ec2Nodes"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.node_trust.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodeMinimalPolicy",   # join the cluster, nothing else
    "AmazonEC2ContainerRegistryPullOnly", # pull images from ECR (the shipshape image), no push
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

# ---------------------------------------------------------------------------------------------------
# Pod Identity roles. The trust is limited to this account and cluster, and to the one service
# account: EKS Pod Identity puts kubernetes-namespace/-service-account session tags on the request.
# ---------------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "pod_identity_trust" {
  for_each = {
    external_secrets = { namespace = local.external_secrets_namespace, sa = local.external_secrets_service_account }
    external_dns     = { namespace = local.external_dns_namespace, sa = local.external_dns_service_account }
  }

  statement {
    sid     = "EksPodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"] # TagSession: Pod Identity passes the session tags
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.cluster_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [each.value.namespace]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = [each.value.sa]
    }
  }
}

# External Secrets Operator: reads the one RDS-managed master secret, nothing else.
resource "aws_iam_role" "external_secrets" {
  name               = "${var.name}-external-secrets"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust["external_secrets"].json
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadDatabaseSecret"
    actions = [
      "secretsmanager:GetSecretValue", # the username/password that become DATABASE_URL
      "secretsmanager:DescribeSecret", # ESO reads the secret's metadata (current version) before fetching
    ]
    resources = [local.db_secret_arn]
  }

  statement {
    sid       = "DecryptDatabaseSecret"
    actions   = ["kms:Decrypt"] # the secret is encrypted with the RDS key; only via Secrets Manager
    resources = [aws_kms_key.rds.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "external_secrets" {
  name   = "read-database-secret"
  role   = aws_iam_role.external_secrets.id
  policy = data.aws_iam_policy_document.external_secrets.json
}

# ExternalDNS: writes the service's alias record (and its TXT ownership records) in the one zone.
resource "aws_iam_role" "external_dns" {
  name               = "${var.name}-external-dns"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust["external_dns"].json
}

data "aws_iam_policy_document" "external_dns" {
  statement {
    sid       = "ChangeServiceRecords"
    actions   = ["route53:ChangeResourceRecordSets"] # create/update the ALB alias on each rollout
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
    # Only the service name and ExternalDNS's TXT registry names for it ("a-"/"aaaa-" prefixed), and
    # only alias/ownership record types: a compromised controller cannot rewrite the rest of the zone.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = [var.domain_name, "a-${var.domain_name}", "aaaa-${var.domain_name}"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["A", "AAAA", "TXT"]
    }
  }

  statement {
    sid       = "ReadZoneRecords"
    actions   = ["route53:ListResourceRecordSets"] # compare desired records with what the zone has
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
  }

  statement {
    sid = "FindZone"
    # ExternalDNS lists zones to match --zone-id-filter; the API has no resource-level permission.
    actions   = ["route53:ListHostedZones"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "external_dns" {
  name   = "service-dns-record"
  role   = aws_iam_role.external_dns.id
  policy = data.aws_iam_policy_document.external_dns.json
}

# ---------------------------------------------------------------------------------------------------
# VPC flow logs delivery role.
# ---------------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "flow_logs_trust" {
  statement {
    sid     = "VpcFlowLogs"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_trust.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid = "WriteFlowLogs"
    actions = [
      "logs:CreateLogStream",    # one stream per ENI
      "logs:PutLogEvents",       # the flow records
      "logs:DescribeLogStreams", # the service checks for an existing stream first
    ]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# ---------------------------------------------------------------------------------------------------
# RDS Enhanced Monitoring (OS metrics every 60 s) role.
# ---------------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "rds_monitoring_trust" {
  statement {
    sid     = "RdsMonitoring"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_trust.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ---------------------------------------------------------------------------------------------------
# KMS key policies.
# ---------------------------------------------------------------------------------------------------
# The account delegates key use to IAM (AWS's default key policy): principals still need an IAM
# policy naming the key, as the ESO role above has. Without it the key becomes unmanageable.
data "aws_iam_policy_document" "kms_account_admin" {
  #checkov:skip=CKV_AWS_109:KMS key policy, not an IAM policy: "*" is the key itself and the principal is the account root (AWS's default key policy)
  #checkov:skip=CKV_AWS_111:KMS key policy, not an IAM policy: "*" is the key itself and the principal is the account root (AWS's default key policy)
  #checkov:skip=CKV_AWS_356:KMS key policy, not an IAM policy: "*" is the key itself and the principal is the account root (AWS's default key policy)
  statement {
    sid       = "AccountDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "kms_logs" {
  source_policy_documents = [data.aws_iam_policy_document.kms_account_admin.json]

  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt*",         # write log events
      "kms:Decrypt*",         # read them back (console, Logs Insights)
      "kms:ReEncrypt*",       # key rotation
      "kms:GenerateDataKey*", # envelope keys for new data
      "kms:Describe*",        # Logs validates the key when the group is associated
    ]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    # Only for this stack's log groups, not any log group in the account.
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        for g in [
          "/aws/eks/${var.name}/cluster",
          "/aws/vpc/${var.name}/flow-logs",
          "/aws/rds/instance/${var.name}-postgres/postgresql",
          "/aws/rds/instance/${var.name}-postgres/upgrade",
        ] : "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${g}"
      ]
    }
  }
}
