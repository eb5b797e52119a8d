output "user_data" {
  description = "The cloud-init user data (#cloud-config) every VM of the stack boots with."
  value       = local.user_data
}

output "files" {
  description = "Path -> content of every file the user data writes (for checks; the user data carries the same)."
  value       = { for f in local.files : f.path => f.content }
}

output "data_dir" {
  description = "Where the service's state (the SQLite database) lives on the VM: the data disk's mount point when data_disk_device is set."
  value       = local.data_dir
}
