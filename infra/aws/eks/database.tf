# RDS for PostgreSQL in the private subnets. Only the cluster security group (Auto Mode nodes and
# therefore pods) and the rotation function reach 5432; TLS is enforced server-side by rds.force_ssl;
# the master password is generated, stored and rotated by RDS in Secrets Manager and never appears in
# Terraform state. Nothing that serves requests uses the master: see "Database roles" below.

locals {
  db_identifier = "${var.name}-postgres"
  # RDS-managed master secret ({username, password}, rotated every 7 days by RDS). Used only by the
  # platform's database setup Job and the rotation function, both at run time.
  db_master_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn
}

resource "aws_kms_key" "rds" {
  description             = "${var.name}: RDS storage, Performance Insights and the master user secret"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = local.kms_account_admin_policy
}

resource "aws_kms_alias" "rds" {
  name          = "alias/${var.name}-rds"
  target_key_id = aws_kms_key.rds.key_id
}

resource "aws_db_subnet_group" "this" {
  name        = local.db_identifier
  description = "Private subnets of ${var.name}"
  subnet_ids  = module.network.private_subnet_ids
}

resource "aws_security_group" "db" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL from the EKS cluster security group only"
  vpc_id      = module.network.vpc_id

  # No egress rules: the database never opens connections (Terraform removes AWS's default allow-all).
  tags = { Name = "${var.name}-postgres" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_cluster" {
  security_group_id = aws_security_group.db.id
  description       = "PostgreSQL from Auto Mode nodes and pods (EKS cluster security group)"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  # Auto Mode's default NodeClass and deploy/eks's NodeClass both attach the cluster security group.
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_rotation" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the password rotation function"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.rotation.id
}

resource "aws_db_parameter_group" "this" {
  name        = "${local.db_identifier}-${var.postgres_major_version}"
  family      = "postgres${var.postgres_major_version}"
  description = "shipshape: TLS only, query and connection logging"

  parameter {
    name  = "rds.force_ssl" # refuse any non-TLS connection
    value = "1"
  }
  parameter {
    name  = "log_connections" # who connected from where, for audits
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }
  parameter {
    name  = "log_statement" # schema changes (migrations) are always logged
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement" # slow queries (ms)
    value = "500"
  }

  # A new major version needs a new family; create the new group before the old one is dropped.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.postgres_major_version
  instance_class = var.db_instance_class

  db_name  = var.db_name
  username = var.db_username
  # RDS generates the password into Secrets Manager (encrypted with our key) and rotates it.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.rds.arn
  # IAM auth is on so people can connect with short-lived tokens instead of the master password.
  iam_database_authentication_enabled = true

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.rds.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  port                   = 5432
  network_type           = "IPV4"
  # The 2048-bit RSA CA valid until 2061; the CA bundle in the pod (README) must contain it.
  ca_cert_identifier = "rds-ca-rsa2048-g1"

  parameter_group_name        = aws_db_parameter_group.this.name
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false # a major upgrade is a deliberate change of postgres_major_version
  apply_immediately           = false

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "03:00-03:30"
  maintenance_window        = "sun:04:00-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = "${local.db_identifier}-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.rds.arn
  performance_insights_retention_period = 7 # the free tier
  database_insights_mode                = "standard"
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  depends_on = [
    aws_iam_role_policy_attachment.rds_monitoring,
    aws_cloudwatch_log_group.rds,
  ]
}

# RDS would create these on first export with no expiry and no CMK; created first, they get both.
resource "aws_cloudwatch_log_group" "rds" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${local.db_identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.log_key.arn
}
