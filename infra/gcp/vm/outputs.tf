output "url" {
  description = "The hello endpoint."
  value       = "http://${google_compute_address.vm.address}/hello"
}

output "external_ip" {
  description = "The VM's static external IPv4 address (kept across VM replacements)."
  value       = google_compute_address.vm.address
}

output "instance_name" {
  description = "Name of the VM."
  value       = google_compute_instance.vm.name
}

output "instance_id" {
  description = "Numeric ID of the VM (changes on every replacement)."
  value       = google_compute_instance.vm.instance_id
}

output "zone" {
  description = "Zone of the VM."
  value       = google_compute_instance.vm.zone
}

output "boot_image" {
  description = "Image the VM booted from (the family's newest when it was last created)."
  value       = google_compute_instance.vm.boot_disk[0].initialize_params[0].image
}

output "service_account_email" {
  description = "The VM's service account (from infra/gcp/bootstrap); the target of the public firewall openings."
  value       = var.vm_service_account_email
}

output "network" {
  description = "Self link of the VPC."
  value       = google_compute_network.vpc.self_link
}

output "subnet_cidr" {
  description = "Primary range of the VM's subnet."
  value       = google_compute_subnetwork.vm.ip_cidr_range
}

output "vpc_ranges" {
  description = "Every primary and secondary range of the VPC's subnets: \"inside the VPC\" for the firewall."
  value       = local.vpc_ranges
}

output "ssh_command" {
  description = "SSH through OS Login; it works only from 104.154.0.0/15, the one SSH source the firewall allows."
  value       = "gcloud compute ssh ${google_compute_instance.vm.name} --zone ${google_compute_instance.vm.zone} --project ${var.project_id}"
}

output "uptime_check_id" {
  description = "ID of the /hello uptime check (null when enable_monitoring = false)."
  value       = one(google_monitoring_uptime_check_config.hello[*].uptime_check_id)
}
