locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Known before the cluster exists, so IAM conditions can name the cluster without a cycle.
  cluster_arn = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.name}"

  eks_access_policy = "arn:${local.partition}:eks::aws:cluster-access-policy"

  # Where the pipeline installs the controllers (helm --namespace, serviceAccount.name); the Pod
  # Identity associations below are bound to exactly these names.
  external_secrets_namespace       = "external-secrets"
  external_secrets_service_account = "external-secrets"
  external_dns_namespace           = "external-dns"
  external_dns_service_account     = "external-dns"

  # CircleCI's published egress addresses for jobs that set `circleci_ip_ranges: true` (the
  # deploy-eks job does): "List of IP address ranges associated with the IP ranges feature",
  # https://circleci.com/docs/ip-ranges/ (list dated 2022-04-06, unchanged when checked 2026-12-06;
  # machine-readable: `dig jobs.knownips.circleci.com A +short`; CircleCI gives 30 days notice of a
  # change by email). They are shared by every CircleCI customer using the feature, so they narrow
  # who can try; the access entries (IAM) still decide who gets in.
  circleci_job_ip_ranges = [
    "3.228.39.90/32", "18.213.67.41/32", "34.194.94.201/32", "34.194.144.202/32", "34.197.6.234/32",
    "35.169.17.173/32", "35.174.253.146/32", "52.3.128.216/32", "52.4.195.249/32", "52.5.58.121/32",
    "52.21.153.129/32", "52.72.72.233/32", "54.92.235.88/32", "54.161.182.76/32", "54.164.161.41/32",
    "54.166.105.113/32", "54.167.72.230/32", "54.172.26.132/32", "54.205.138.102/32", "54.208.72.234/32",
    "54.209.115.53/32",
  ]
  public_access_cidrs = distinct(concat(
    var.ci_api_access == "circleci_ip_ranges" ? local.circleci_job_ip_ranges : [],
    var.cluster_public_access_cidrs,
  ))
}

# ---------------------------------------------------------------------------------------------------
# KMS: one key for Kubernetes Secrets envelope encryption, one for CloudWatch log groups.
# ---------------------------------------------------------------------------------------------------
resource "aws_kms_key" "eks" {
  description             = "${var.name}: envelope encryption of Kubernetes Secrets in etcd"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = local.kms_account_admin_policy
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.name}-eks-secrets"
  target_key_id = aws_kms_key.eks.key_id
}

# CloudWatch Logs may use the log key only for this stack's log groups (exact names), not any log
# group in the account.
module "log_key" {
  source = "../../modules/aws-log-key"

  name                    = "${var.name}-logs"
  description             = "${var.name}: EKS control-plane and VPC flow log groups"
  deletion_window_in_days = var.kms_deletion_window_days
  log_groups = [
    "/aws/eks/${var.name}/cluster",
    local.flow_log_group,
    "/aws/rds/instance/${var.name}-postgres/postgresql",
    "/aws/rds/instance/${var.name}-postgres/upgrade",
  ]
  account_id = local.account_id
  partition  = local.partition
  region     = var.region
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

# ---------------------------------------------------------------------------------------------------
# Control-plane logs: EKS writes to this fixed name; creating it first sets retention and encryption.
# ---------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "cluster" {
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}

# ---------------------------------------------------------------------------------------------------
# The cluster: EKS Auto Mode (compute, EBS block storage and ALB/NLB load balancing run by AWS).
# ---------------------------------------------------------------------------------------------------
resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  # Auto Mode brings CNI, kube-proxy, CoreDNS, Pod Identity and EBS CSI as part of the node; the
  # self-managed copies must not be installed next to them.
  bootstrap_self_managed_addons = false

  deletion_protection = var.cluster_deletion_protection

  access_config {
    # Access entries only: no aws-auth ConfigMap to drift or lock everyone out.
    authentication_mode = "API"
    # Whoever runs `terraform apply` gets no hidden, unrevocable admin binding; admins are explicit below.
    bootstrap_cluster_creator_admin_permissions = false
  }

  compute_config {
    enabled       = true
    node_pools    = var.builtin_node_pools
    node_role_arn = aws_iam_role.node.arn
  }

  kubernetes_network_config {
    elastic_load_balancing {
      enabled = true
    }
  }

  storage_config {
    block_storage {
      enabled = true
    }
  }

  vpc_config {
    # Only private subnets: the default NodeClass puts nodes in the cluster's subnets, and the
    # control plane's ENIs land here too. Public subnets are for the ALB alone.
    subnet_ids = module.network.private_subnet_ids
    # Private for nodes, pods and the AMP scraper; public only for the CIDRs above (the pipeline's
    # deploy job runs on CircleCI's cloud, outside the VPC). An empty list turns the public side off:
    # AWS's default for an enabled public endpoint would be 0.0.0.0/0.
    endpoint_private_access = true
    endpoint_public_access  = length(local.public_access_cidrs) > 0
    public_access_cidrs     = length(local.public_access_cidrs) > 0 ? local.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  upgrade_policy {
    # STANDARD: the cluster is upgraded by AWS at end of standard support instead of silently moving
    # to extended support, which bills six times the control-plane price.
    support_type = "STANDARD"
  }

  zonal_shift_config {
    enabled = true
  }

  lifecycle {
    precondition {
      # The EKS API limit on publicAccessCidrs.
      condition     = length(local.public_access_cidrs) <= 40
      error_message = "The public endpoint admits at most 40 CIDRs; ci_api_access + cluster_public_access_cidrs give ${length(local.public_access_cidrs)}."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.cluster,
    aws_iam_role_policy_attachment.cluster,
  ]
}

# ---------------------------------------------------------------------------------------------------
# Add-ons. Auto Mode already runs VPC CNI, kube-proxy, CoreDNS, the Pod Identity agent and the EBS CSI
# driver on its nodes, so only metrics-server is added: without it the chart's HPA has no metrics.
# ---------------------------------------------------------------------------------------------------
# The version AWS publishes as the default for the pinned Kubernetes version: the add-on pin moves
# with kubernetes_version (one variable to bump), and is never one AWS has not built for it.
data "aws_eks_addon_version" "metrics_server" {
  addon_name         = "metrics-server"
  kubernetes_version = aws_eks_cluster.this.version
  most_recent        = false
}

resource "aws_eks_addon" "metrics_server" {
  cluster_name  = aws_eks_cluster.this.name
  addon_name    = "metrics-server"
  addon_version = coalesce(var.metrics_server_addon_version, data.aws_eks_addon_version.metrics_server.version)

  # The add-on owns its objects; a manual edit is overwritten on the next apply instead of failing it.
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

# ---------------------------------------------------------------------------------------------------
# Access entries: who may use the Kubernetes API, and for what.
# ---------------------------------------------------------------------------------------------------
locals {
  cluster_admin_principals = merge(
    { admin = var.admin_role_arn },
    var.platform_role_arn == null ? {} : { platform = var.platform_role_arn },
  )
}

resource "aws_eks_access_entry" "cluster_admin" {
  for_each = local.cluster_admin_principals

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"
}

# Platform team and the platform step of the pipeline: cluster-scoped objects (CRDs, ClusterRoles of
# the controllers, IngressClass, NodePool/NodeClass, StorageClass) need cluster-admin.
resource "aws_eks_access_policy_association" "cluster_admin" {
  for_each = local.cluster_admin_principals

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.cluster_admin[each.key].principal_arn
  policy_arn    = "${local.eks_access_policy}/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# Every-commit deploys: `helm upgrade --install` of the chart touches only its own namespace.
resource "aws_eks_access_entry" "deploy" {
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = var.deploy_role_arn
  type          = "STANDARD"
}

resource "aws_eks_access_policy_association" "deploy" {
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.deploy.principal_arn
  # Edit: Deployments, Services, Ingress, HPA, PDB, NetworkPolicy, Jobs, Secrets (Helm's release
  # records) and test Pods — but no RBAC changes and nothing outside the namespace.
  policy_arn = "${local.eks_access_policy}/AmazonEKSEditPolicy"

  access_scope {
    type       = "namespace"
    namespaces = [var.app_namespace]
  }
}

# ---------------------------------------------------------------------------------------------------
# Pod Identity: controllers that call AWS get a role bound to (namespace, service account).
# ---------------------------------------------------------------------------------------------------
resource "aws_eks_pod_identity_association" "external_secrets" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = local.external_secrets_namespace
  service_account = local.external_secrets_service_account
  role_arn        = aws_iam_role.external_secrets.arn
}

resource "aws_eks_pod_identity_association" "external_dns" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = local.external_dns_namespace
  service_account = local.external_dns_service_account
  role_arn        = aws_iam_role.external_dns.arn
}
