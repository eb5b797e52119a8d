# Database roles: the application never connects as the RDS master.
#
#   shipshape_app      LOGIN, DML on the service's tables and sequences, SELECT on _sqlx_migrations
#   shipshape_owner    LOGIN, owns the schema objects; used only by the chart's migrations Job
#   (+ <role>_clone)   made by the rotation function on its first run (GRANT <role> TO <role>_clone)
#
# Each login has a Secrets Manager secret in AWS's RDS PostgreSQL structure. The app is rotation-safe
# whatever happens to these secrets: it reads DATABASE_URL_FILE (the Secret External Secrets Operator
# keeps in sync) and re-reads it when it changes; new connections use the new login, old ones drain.
# The master password (RDS-rotated every 7 days) is read at run time only by the setup Job
# (deploy/eks/database-setup.yaml.tftpl) and the rotation function, so its rotation cannot break the app.
#
# Automated rotation of these two logins (alternating users, "Rotation strategy: alternating users",
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html) is a platform
# administrator's step, not the pipeline's: AWS's rotation function is published in the Serverless
# Application Repository as a CloudFormation template that creates its own Lambda execution role,
# without a permissions boundary and with no parameter to give it one ("AWS Secrets Manager rotation
# function templates", https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_available-rotation-templates.html).
# The apply role may create roles only with the stacks' boundary and may not pass roles to
# CloudFormation or Lambda (infra/aws/bootstrap README), so it cannot deploy that template, and a
# CloudFormation service role able to do so would be a way around the boundary. `make eks-platform`
# (run with the platform administrator's role, after the setup Job created the logins) deploys the
# template with the parameters of output `db_logins` and turns rotation on for both secrets. This
# stack keeps what the function needs from the network: its security group and the database's
# ingress rule for it.
#

locals {
  db_roles = {
    app   = { username = "${var.db_name}_app", secret = "${var.name}/database/app" }
    owner = { username = "${var.db_name}_owner", secret = "${var.name}/database/owner" }
  }
  eso_secret_arns = concat([for k in keys(local.db_roles) : aws_secretsmanager_secret.db_role[k].arn], [local.db_master_secret_arn])

  # Secrets Manager's rotation template, published by AWS in the Serverless Application Repository
  # (deployed by `make eks-platform` with the parameters of output db_logins).
  rotation_application_id = "arn:${local.partition}:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationMultiUser"
  rotation_app_version    = "1.1.618"
  rotation_function_name  = "${var.name}-db-rotation"
}

resource "aws_secretsmanager_secret" "db_role" {
  #checkov:skip=CKV2_AWS_57:rotation is turned on by the platform administrator's `make eks-platform` (AWS's template creates an unbounded role the pipeline's apply may not create; see the comment above), which checkov cannot see
  for_each = local.db_roles

  name        = each.value.secret
  description = "${var.name}: PostgreSQL login ${each.value.username} (alternating users, rotated every ${var.db_app_password_rotation_days} days)"
  kms_key_id  = aws_kms_key.rds.arn
  # A deleted secret can be restored for a week (a mistaken destroy loses no credentials).
  recovery_window_in_days = 7
}

# No secret value here: `make eks-platform` writes each login's first value (a password from Secrets
# Manager's GetRandomPassword, in the structure of output db_logins) before the setup Job creates the
# roles, and rotations write every later one. Terraform never holds a password in its state, and never
# reads a value back: refreshing a secret version calls GetSecretValue, which the plan and apply roles
# are denied (infra/aws/bootstrap), and after a rotation the initial version would be "gone" and
# Terraform would write the old password back over the rotated one.

# The rotation function (AWS's alternating-users template, deployed by `make eks-platform`) runs in the
# private subnets with this security group, reaching the database and, through the NAT, Secrets Manager.
resource "aws_security_group" "rotation" {
  #checkov:skip=CKV2_AWS_5:attached to the rotation function that `make eks-platform` deploys (vpcSecurityGroupIds of output db_logins)
  name        = "${var.name}-db-rotation"
  description = "The password rotation function: PostgreSQL and HTTPS out, nothing in"
  vpc_id      = module.network.vpc_id

  tags = { Name = "${var.name}-db-rotation" }
}

resource "aws_vpc_security_group_egress_rule" "rotation_db" {
  security_group_id            = aws_security_group.rotation.id
  description                  = "PostgreSQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_egress_rule" "rotation_https" {
  security_group_id = aws_security_group.rotation.id
  description       = "HTTPS to the Secrets Manager and RDS APIs (through the NAT gateway)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
