locals {
  environment = merge({
    LOG_FORMAT   = "json"
    DATABASE_URL = "sqlite:///var/lib/shipshape/shipshape.db"
  }, var.environment)

  # KEY="value" lines, quoted and escaped the way systemd's EnvironmentFile= (and bash) parse them.
  env_lines = join("", [for k, v in local.environment : "${k}=\"${replace(replace(replace(v, "\\", "\\\\"), "\"", "\\\""), "$", "\\$")}\"\n"])

  release_env = join("", [for k, v in {
    RELEASE_SOURCE    = var.release.source
    RELEASE_BUCKET    = var.release.bucket
    RELEASE_PREFIX    = var.release.prefix
    RELEASE_ENDPOINT  = var.release.endpoint
    RELEASE_REGION    = var.release.region
    METADATA_ENDPOINT = var.metadata_endpoint
  } : "${k}=\"${v}\"\n"])

  data_dir = "/var/lib/private/shipshape"

  files = concat(
    [
      { path = "/etc/shipshape/shipshape.env", mode = "0600", content = "# Written by cloud-init from the stack's environment map.\n${local.env_lines}" },
      { path = "/etc/shipshape/release.env", mode = "0644", content = "# Where shipshape-release reads releases (vm-boot module).\n${local.release_env}" },
      { path = "/etc/shipshape/release-signing.pem", mode = "0644", content = var.release.public_key_pem },
      { path = "/etc/systemd/system/shipshape.service", mode = "0644", content = file("${path.module}/files/shipshape.service") },
      { path = "/etc/systemd/system/shipshape.socket", mode = "0644", content = file("${path.module}/files/shipshape.socket") },
      { path = "/etc/systemd/system/shipshape-release.service", mode = "0644", content = file("${path.module}/files/shipshape-release.service") },
      { path = "/etc/systemd/system/shipshape-release.timer", mode = "0644", content = file("${path.module}/files/shipshape-release.timer") },
      { path = "/usr/local/sbin/shipshape-release", mode = "0755", content = file("${path.module}/files/shipshape-release") },
    ],
    var.data_disk_device == null ? [] : [
      { path = "/etc/shipshape/data-disk.env", mode = "0644", content = "DATA_DISK=${var.data_disk_device}\n" },
      { path = "/usr/local/sbin/shipshape-data-format", mode = "0755", content = file("${path.module}/files/shipshape-data-format") },
      { path = "/etc/systemd/system/shipshape-data-format.service", mode = "0644", content = file("${path.module}/files/shipshape-data-format.service") },
      {
        path    = "/etc/systemd/system/var-lib-private-shipshape.mount"
        mode    = "0644"
        content = <<-EOT
          # shipshape's data disk on its state directory: the database outlives the VM.
          [Unit]
          Description=shipshape data disk
          Requires=shipshape-data-format.service
          After=shipshape-data-format.service

          [Mount]
          What=${var.data_disk_device}
          Where=${local.data_dir}
          Type=ext4
          Options=defaults,noatime
        EOT
      },
      {
        path    = "/etc/systemd/system/shipshape.service.d/data-disk.conf"
        mode    = "0644"
        content = "# Never start on an empty boot-disk directory: the database is on the data disk.\n[Unit]\nRequiresMountsFor=${local.data_dir}\n"
      },
    ],
    var.cloudwatch_agent_config == "" ? [] : [
      { path = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json", mode = "0644", content = var.cloudwatch_agent_config },
      { path = "/etc/systemd/system/shipshape-journal-export.service", mode = "0644", content = file("${path.module}/files/shipshape-journal-export.service") },
      { path = "/etc/logrotate.d/shipshape", mode = "0644", content = file("${path.module}/files/shipshape-logrotate") },
      { path = "/usr/local/sbin/shipshape-cloudwatch-agent", mode = "0700", content = file("${path.module}/files/shipshape-cloudwatch-agent") },
    ],
  )

  steps = concat(
    ["/usr/local/sbin/shipshape-release deploy", "systemctl enable --now shipshape-release.timer"],
    var.cloudwatch_agent_config == "" ? [] : ["/usr/local/sbin/shipshape-cloudwatch-agent"],
  )

  user_data = templatefile("${path.module}/templates/user-data.yaml.tftpl", {
    files = local.files
    steps = local.steps
  })
}
