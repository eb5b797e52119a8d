output "url" {
  description = "The hello page: http://<Elastic IP>/hello for the single VM, https://<ALB or public_hostname>/hello with enable_scaling."
  value = (var.enable_scaling
    ? "https://${var.public_hostname != "" ? var.public_hostname : aws_lb.app[0].dns_name}/hello"
  : "http://${aws_eip.vm[0].public_ip}/hello")
}

output "public_ip" {
  description = "Elastic IP of the single VM (null with enable_scaling)."
  value       = var.enable_scaling ? null : aws_eip.vm[0].public_ip
}

output "public_ipv6" {
  description = "IPv6 address of the single VM (null with enable_scaling)."
  value       = var.enable_scaling ? null : one(aws_instance.vm[0].ipv6_addresses)
}

output "instance_id" {
  description = "Instance id of the single VM, for `aws ssm start-session --target` (null with enable_scaling)."
  value       = var.enable_scaling ? null : aws_instance.vm[0].id
}

output "alb_dns_name" {
  description = "DNS name of the ALB; point public_hostname's record at it (null without enable_scaling)."
  value       = var.enable_scaling ? aws_lb.app[0].dns_name : null
}

output "autoscaling_group_name" {
  description = "Name of the auto scaling group (null without enable_scaling)."
  value       = var.enable_scaling ? aws_autoscaling_group.app[0].name : null
}

output "deploy" {
  description = "How a release reaches the instances (README 'Deploy'): write the pointer, then run the SSM document on the deploy group; its output goes to the log group."
  value = {
    release_bucket   = var.release_bucket
    pointer_key      = "${var.release_prefix}current.json"
    releases_prefix  = "${var.release_prefix}releases/"
    ssm_document     = aws_ssm_document.deploy.name
    target_tag_key   = "DeployGroup"
    target_tag_value = local.deploy_group
    output_log_group = aws_cloudwatch_log_group.deploy.name
  }
}

output "vpc_id" {
  description = "The VPC."
  value       = module.network.vpc_id
}

output "security_group_id" {
  description = "The VM firewall (security group)."
  value       = aws_security_group.vm.id
}

output "app_log_group" {
  description = "CloudWatch log group with the service's journal."
  value       = aws_cloudwatch_log_group.app.name
}

output "instance_role_arn" {
  description = "The instances' role: it alone reads the release objects (s3:GetObject on <release_prefix>*)."
  value       = aws_iam_role.instance.arn
}
