#!/bin/bash
# GCE startup script (metadata key startup-script, run as root by the guest agent on every boot).
# Installs the Google Cloud Ops Agent the first time and points it at the systemd journal, where
# shipshape.service writes its JSON request logs. Later boots only re-apply the configuration.
set -euo pipefail

if ! dpkg-query -W -f='${Status}' google-cloud-ops-agent 2>/dev/null | grep -q "install ok installed"; then
  script="$(mktemp)"
  trap 'rm -f "$script"' EXIT
  # Google's documented installer: adds the agent's apt repository (signed) and installs it.
  curl --fail --silent --show-error --location --retry 5 --retry-connrefused \
    --output "$script" https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh
  # apt can be busy right after first boot (unattended-upgrades): retry before giving up; a
  # failure is also retried on the next boot, since this script runs on every boot.
  for attempt in 1 2 3 4 5; do
    bash "$script" --also-install && break
    [ "$attempt" -eq 5 ] && exit 1
    sleep 30
  done
fi

install -d -m 0755 /etc/google-cloud-ops-agent
# The journal replaces the built-in syslog files receiver: on Ubuntu those files hold the same
# journal lines again, so keeping both would ingest everything twice.
cat >/etc/google-cloud-ops-agent/config.yaml <<'YAML'
logging:
  receivers:
    journal:
      type: systemd_journald
  service:
    pipelines:
      default_pipeline:
        receivers: [journal]
YAML
systemctl restart google-cloud-ops-agent
