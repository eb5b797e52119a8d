# Everything the pipeline needs after `terraform apply`; nothing here is secret (the DB password
# stays in Secrets Manager, only its ARN is output).

locals {
  # The chart mounts ConfigMap <configMapName> at /etc/shipshape/db-ca/<key> (database.caBundle).
  db_ca_configmap = "rds-ca-bundle"
  db_ca_key       = "ca.pem"
  db_ca_path      = "/etc/shipshape/db-ca/${local.db_ca_key}"
  db_query        = var.db_sslmode == "verify-full" ? "sslmode=verify-full&sslrootcert=${local.db_ca_path}" : "sslmode=require"
  # Secrets External Secrets Operator writes into the app namespace (deploy/eks/database-secret.yaml.tftpl):
  # the application's URL and the migrations' (owner) URL, each under key DATABASE_URL.
  db_secret_name       = "shipshape-database"
  db_owner_secret_name = "shipshape-database-owner"
  db_secret_key        = "DATABASE_URL"
  # Namespace of the one-off role setup Job and the only place the master credentials are copied to.
  db_admin_namespace = "${var.app_namespace}-db-admin"

  ecr_repository_url = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com/shipshape"
  # psql for the setup Job: the official PostgreSQL image from ECR Public (no Docker Hub rate limit).
  db_client_image = "public.ecr.aws/docker/library/postgres:${var.postgres_major_version}-alpine"

  # Values for deploy/helm/shipshape (keys as in its values.yaml); the pipeline adds image.tag.
  helm_values = {
    image = {
      repository = local.ecr_repository_url
    }
    database = {
      mode              = "postgres"
      existingSecret    = local.db_secret_name
      existingSecretKey = local.db_secret_key
      caBundle = {
        configMapName = var.db_sslmode == "verify-full" ? local.db_ca_configmap : ""
        key           = local.db_ca_key
      }
      migrations = {
        # The migrations Job logs in as the owner; afterwards it grants the app role its DML.
        existingSecret = local.db_owner_secret_name
        grantTo        = local.db_roles.app.username
      }
    }
    ingress = {
      enabled   = true
      className = "alb"
      host      = var.domain_name
      # The validated ARN: the Ingress is never created with a certificate that is still pending.
      certificateArn = aws_acm_certificate_validation.this.certificate_arn
    }
    # metrics-server is installed (aws_eks_addon.metrics_server), so the HPA has metrics. Three pods
    # minimum: one per AZ, and a zone outage or a rollout still leaves two serving.
    autoscaling = {
      enabled     = true
      minReplicas = 3
      maxReplicas = 12
    }
    # Karpenter consolidation moves pods around; a hard zone spread keeps them in three AZs.
    topologySpread = {
      zoneWhenUnsatisfiable = "DoNotSchedule"
    }
    networkPolicy = {
      enabled = true
      database = {
        # The DB subnet group is the private subnets: egress on 5432 only there.
        cidrs = module.network.private_subnet_cidrs
        port  = aws_db_instance.this.port
      }
    }
    # The AWS managed collector scrapes the pods (monitoring.tf); no Prometheus Operator objects.
    serviceMonitor = {
      enabled = false
    }
    prometheusRule = {
      enabled = false
    }
  }

  manifest_vars = {
    name                       = var.name
    region                     = var.region
    app_namespace              = var.app_namespace
    external_secrets_namespace = local.external_secrets_namespace
    external_dns_namespace     = local.external_dns_namespace
    node_role_name             = aws_iam_role.node.name
    cluster_security_group_id  = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
    node_architectures         = jsonencode(var.node_architectures)
    db_admin_namespace         = local.db_admin_namespace
    azs                        = jsonencode(local.azs)
    certificate_arn            = aws_acm_certificate_validation.this.certificate_arn
  }

  db_url_vars = {
    db_host  = aws_db_instance.this.address
    db_port  = aws_db_instance.this.port
    db_name  = var.db_name
    db_query = local.db_query
  }
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint (reachable privately, and publicly only from cluster_public_access_cidrs)."
  value       = aws_eks_cluster.this.endpoint
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig entry for the cluster (run with the role whose access entry you need)."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"
}

output "certificate_arn" {
  description = "ACM certificate for domain_name, after DNS validation."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "service_url" {
  description = "Public URL of the service once ExternalDNS has written the record."
  value       = "https://${var.domain_name}"
}

output "db_endpoint" {
  description = "PostgreSQL host name (private)."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Database name."
  value       = aws_db_instance.this.db_name
}

output "db_secret_arns" {
  description = "Secrets Manager secrets: the RDS-managed master (setup Job and rotation only) and the rotated app and owner logins."
  value = {
    master = local.db_master_secret_arn
    app    = aws_secretsmanager_secret.db_role["app"].arn
    owner  = aws_secretsmanager_secret.db_role["owner"].arn
  }
}

output "db_roles" {
  description = "PostgreSQL login roles the setup Job creates (rotation adds <role>_clone)."
  value       = { for k, r in local.db_roles : k => r.username }
}

output "db_logins" {
  description = "The app and owner logins for `make eks-platform` (platform administrator): each secret's first value (the structure AWS's rotation function expects; the password is generated then), and their rotation with AWS's alternating-users template from the Serverless Application Repository (roles.tf explains why neither is the pipeline's apply)."
  value = {
    secrets = { for k, r in local.db_roles : k => { arn = aws_secretsmanager_secret.db_role[k].arn, username = r.username } }
    # Every key of a login secret but username and password.
    connection = {
      engine    = "postgres"
      host      = aws_db_instance.this.address
      port      = aws_db_instance.this.port
      dbname    = var.db_name
      masterarn = local.db_master_secret_arn
    }
    rotation = {
      application_id   = local.rotation_application_id
      semantic_version = local.rotation_app_version
      stack_name       = local.rotation_function_name
      function_name    = local.rotation_function_name
      days             = var.db_app_password_rotation_days
      parameters = {
        functionName          = local.rotation_function_name
        endpoint              = "https://secretsmanager.${var.region}.amazonaws.com"
        vpcSubnetIds          = join(",", module.network.private_subnet_ids)
        vpcSecurityGroupIds   = aws_security_group.rotation.id
        kmsKeyArn             = aws_kms_key.rds.arn
        masterSecretArn       = local.db_master_secret_arn
        masterSecretKmsKeyArn = aws_kms_key.rds.arn
      }
    }
  }
}

output "prometheus" {
  description = "Amazon Managed Service for Prometheus workspace (query endpoint for Grafana) and the collector."
  value = {
    workspace_id = aws_prometheus_workspace.this.id
    endpoint     = aws_prometheus_workspace.this.prometheus_endpoint
    scraper_arn  = aws_prometheus_scraper.this.arn
  }
}

output "support_windows" {
  description = "Pinned Kubernetes and PostgreSQL versions with their end of AWS standard support (support.tf)."
  value       = local.support_windows
}

output "db_ca_bundle" {
  description = "Where the RDS CA bundle must be: ConfigMap name and key in app_namespace (the pipeline creates it, README)."
  value = {
    namespace     = var.app_namespace
    configMapName = local.db_ca_configmap
    key           = local.db_ca_key
    mountPath     = local.db_ca_path
    caIdentifier  = aws_db_instance.this.ca_cert_identifier
  }
}

output "role_arns" {
  description = "IAM roles made by this stack."
  value = {
    cluster          = aws_iam_role.cluster.arn
    node             = aws_iam_role.node.arn
    external_secrets = aws_iam_role.external_secrets.arn
    external_dns     = aws_iam_role.external_dns.arn
  }
}

output "controllers" {
  description = "Where the pipeline must install each controller (Pod Identity is bound to these names)."
  value = {
    external_secrets = {
      namespace      = local.external_secrets_namespace
      serviceAccount = local.external_secrets_service_account
    }
    external_dns = {
      namespace      = local.external_dns_namespace
      serviceAccount = local.external_dns_service_account
    }
  }
}

output "controller_helm_values" {
  description = "Values for the controller charts (external-secrets, external-dns), one YAML document each."
  value = {
    external_secrets = yamlencode({
      installCRDs    = true
      serviceAccount = { create = true, name = local.external_secrets_service_account }
    })
    external_dns = yamlencode({
      provider       = { name = "aws" }
      serviceAccount = { create = true, name = local.external_dns_service_account }
      sources        = ["ingress"]
      domainFilters  = [var.domain_name]
      # sync: the record goes away with the Ingress (clean destroy); the IAM policy limits names anyway.
      policy     = "sync"
      registry   = "txt"
      txtOwnerId = var.name
      extraArgs  = ["--zone-id-filter=${var.route53_zone_id}", "--aws-zone-type=public"]
      env        = [{ name = "AWS_DEFAULT_REGION", value = var.region }]
    })
  }
}

output "platform_manifests" {
  description = "deploy/eks/platform.yaml rendered: apply before the controllers."
  value       = templatefile("${path.module}/../../../deploy/eks/platform.yaml.tftpl", local.manifest_vars)
}

output "database_secret_manifests" {
  description = "deploy/eks/database-secret.yaml rendered: the app's and the migrations' URLs; apply after External Secrets Operator, before the app."
  value = templatefile("${path.module}/../../../deploy/eks/database-secret.yaml.tftpl", merge(local.db_url_vars, {
    region            = var.region
    app_namespace     = var.app_namespace
    secret_key        = local.db_secret_key
    app_secret_name   = local.db_secret_name
    app_secret_arn    = aws_secretsmanager_secret.db_role["app"].arn
    owner_secret_name = local.db_owner_secret_name
    owner_secret_arn  = aws_secretsmanager_secret.db_role["owner"].arn
    owner_role        = local.db_roles.owner.username
  }))
}

output "database_setup_manifests" {
  description = "deploy/eks/database-setup.yaml rendered: the Job that creates the login roles with the master credentials (platform step, re-runnable)."
  value = templatefile("${path.module}/../../../deploy/eks/database-setup.yaml.tftpl", merge(local.db_url_vars, {
    region           = var.region
    namespace        = local.db_admin_namespace
    master_secret    = local.db_master_secret_arn
    app_secret_arn   = aws_secretsmanager_secret.db_role["app"].arn
    owner_secret_arn = aws_secretsmanager_secret.db_role["owner"].arn
    app_role         = local.db_roles.app.username
    owner_role       = local.db_roles.owner.username
    ca_configmap     = local.db_ca_configmap
    ca_key           = local.db_ca_key
    setup_sql        = file("${path.module}/../../../deploy/eks/database-setup.sql")
    client_image     = local.db_client_image
  }))
}

output "helm_values" {
  description = "Values fragment for deploy/helm/shipshape (helm upgrade -f <(terraform output -raw helm_values))."
  value       = yamlencode(local.helm_values)
}
