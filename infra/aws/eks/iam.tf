# Every policy is written here with jsonencode() from names and ARNs known at plan time, so the
# planned values are the real documents (tests/plan.tftest.hcl reads them). AWS-managed policies are
# attached only where AWS documents them as the required set (Auto Mode cluster and node roles, RDS
# monitoring).

locals {
  # Trust of a role assumed by an AWS service on behalf of this account only (confused deputy).
  service_trust = { for svc in ["eks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "monitoring.rds.amazonaws.com"] :
    svc => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "ServiceInThisAccount"
        Effect    = "Allow"
        Principal = { Service = svc }
        # TagSession: Auto Mode tags the sessions it opens with the cluster role.
        Action    = svc == "eks.amazonaws.com" ? ["sts:AssumeRole", "sts:TagSession"] : ["sts:AssumeRole"]
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      }]
    })
  }

  # EKS Pod Identity trust, exactly as documented in "Create IAM role with trust policy required by
  # EKS Pod Identity" (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html): principal
  # pods.eks.amazonaws.com, sts:AssumeRole + sts:TagSession, and conditions only on the session tags
  # Pod Identity sends (eks-cluster-arn, kubernetes-namespace, kubernetes-service-account). No
  # aws:SourceArn: for this principal it is the Pod Identity association, not the cluster, so a
  # cluster ARN there matches nothing and the controller silently gets no credentials.
  pod_identity_bindings = {
    external_secrets = { namespace = local.external_secrets_namespace, service_account = local.external_secrets_service_account }
    external_dns     = { namespace = local.external_dns_namespace, service_account = local.external_dns_service_account }
  }
  pod_identity_trust = { for k, b in local.pod_identity_bindings : k => jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowEksAuthToAssumeRoleForPodIdentity"
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = {
          "aws:RequestTag/eks-cluster-arn"            = local.cluster_arn
          "aws:RequestTag/kubernetes-namespace"       = b.namespace
          "aws:RequestTag/kubernetes-service-account" = b.service_account
        }
      }
    }]
  }) }
}

# ---------------------------------------------------------------------------------------------------
# EKS cluster role (Auto Mode manages EC2 instances, EBS volumes, load balancers and ENIs with it).
# ---------------------------------------------------------------------------------------------------
resource "aws_iam_role" "cluster" {
  name = "${var.name}-eks-cluster"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy   = local.service_trust["eks.amazonaws.com"]
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
# No user-defined tags on Auto Mode resources (NodeClass, IngressClassParams): the managed policies
# above do not allow them ("Custom AWS tags for EKS Auto resources",
# https://docs.aws.amazon.com/eks/latest/userguide/auto-cluster-iam-role.html), and a NodeClass with
# tags would leave every node launch failing. The stack's default tags cover what Terraform creates.

# ---------------------------------------------------------------------------------------------------
# Auto Mode node role (EKS creates its EC2 access entry itself because it is the cluster's node role).
# ---------------------------------------------------------------------------------------------------
resource "aws_iam_role" "node" {
  name = "${var.name}-eks-node"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Ec2Nodes"
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = ["sts:AssumeRole"]
    }]
  })
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
# External Secrets Operator: reads the database secrets (application, migrations, master), nothing else.
# ---------------------------------------------------------------------------------------------------
resource "aws_iam_role" "external_secrets" {
  name = "${var.name}-external-secrets"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy   = local.pod_identity_trust["external_secrets"]
}

resource "aws_iam_role_policy" "external_secrets" {
  name = "read-database-secrets"
  role = aws_iam_role.external_secrets.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ReadDatabaseSecrets"
        Effect = "Allow"
        Action = [
          "secretsmanager:GetSecretValue", # the username/password that become the URLs
          "secretsmanager:DescribeSecret", # ESO reads the secret's metadata (current version) first
        ]
        Resource = local.eso_secret_arns
      },
      {
        Sid      = "DecryptDatabaseSecrets"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"] # the secrets are encrypted with the RDS key; only via Secrets Manager
        Resource = [aws_kms_key.rds.arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" }
        }
      },
    ]
  })
}

# ExternalDNS: writes the service's alias record (and its TXT ownership records) in the one zone.
resource "aws_iam_role" "external_dns" {
  name = "${var.name}-external-dns"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy   = local.pod_identity_trust["external_dns"]
}

resource "aws_iam_role_policy" "external_dns" {
  name = "service-dns-record"
  role = aws_iam_role.external_dns.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ChangeServiceRecords"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets"] # create/update the ALB alias on each rollout
        Resource = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
        # Only the service name and ExternalDNS's TXT registry names for it, and only alias/ownership
        # record types: a compromised controller cannot rewrite the rest of the zone.
        Condition = {
          "ForAllValues:StringEquals" = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames" = [var.domain_name, "a-${var.domain_name}", "aaaa-${var.domain_name}"]
            "route53:ChangeResourceRecordSetsRecordTypes"           = ["A", "AAAA", "TXT"]
          }
        }
      },
      {
        Sid      = "ReadZoneRecords"
        Effect   = "Allow"
        Action   = ["route53:ListResourceRecordSets"] # compare desired records with what the zone has
        Resource = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]
      },
      {
        Sid    = "FindZone"
        Effect = "Allow"
        # ExternalDNS lists zones to match --zone-id-filter; the API has no resource-level permission.
        Action   = ["route53:ListHostedZones"]
        Resource = ["*"]
      },
    ]
  })
}

# ---------------------------------------------------------------------------------------------------
# VPC flow logs delivery role.
# ---------------------------------------------------------------------------------------------------
resource "aws_iam_role" "flow_logs" {
  name = "${var.name}-vpc-flow-logs"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy   = local.service_trust["vpc-flow-logs.amazonaws.com"]
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "WriteFlowLogs"
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",    # one stream per ENI
        "logs:PutLogEvents",       # the flow records
        "logs:DescribeLogStreams", # the service checks for an existing stream first
      ]
      Resource = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.flow_log_group}:*"]
    }]
  })
}

# ---------------------------------------------------------------------------------------------------
# RDS Enhanced Monitoring (OS metrics every 60 s) role.
# ---------------------------------------------------------------------------------------------------
resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  # The bootstrap's boundary: without it the apply role may not create the role (README).
  permissions_boundary = var.stack_permissions_boundary_arn
  assume_role_policy   = local.service_trust["monitoring.rds.amazonaws.com"]
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ---------------------------------------------------------------------------------------------------
# KMS key policies.
# ---------------------------------------------------------------------------------------------------
locals {
  # The account delegates key use to IAM (AWS's default key policy): principals still need an IAM
  # policy naming the key, as the ESO role above has. Without it the key becomes unmanageable.
  # In a key policy "*" as the resource means this key.
  kms_account_admin_statement = {
    Sid       = "AccountDelegatesToIam"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
  kms_account_admin_policy = jsonencode({ Version = "2012-10-17", Statement = [local.kms_account_admin_statement] })

  flow_log_group = "/aws/vpc/${var.name}/flow-logs"
}
