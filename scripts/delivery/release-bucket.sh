# shellcheck shell=bash
# The VM release bucket, for publish-vm.sh and deploy-vm.sh: objects in S3 or GCS ($CLOUD, $RELEASE_BUCKET,
# $AWS_REGION) and the signature check the VMs make too. Sourced, not run.

obj_get() { # obj_get KEY FILE
  case "$CLOUD" in
    aws) aws s3api get-object --region "$AWS_REGION" --bucket "$RELEASE_BUCKET" --key "$1" "$2" >/dev/null ;;
    gcp) gcloud storage cp --quiet "gs://$RELEASE_BUCKET/$1" "$2" ;;
  esac
}
obj_put() { # obj_put FILE KEY CONTENT-TYPE
  case "$CLOUD" in
    aws) aws s3api put-object --region "$AWS_REGION" --bucket "$RELEASE_BUCKET" --key "$2" --body "$1" \
      --content-type "$3" >/dev/null ;;
    gcp) gcloud storage cp --quiet --content-type="$3" "$1" "gs://$RELEASE_BUCKET/$2" ;;
  esac
}
# Create-only: fails when the object exists.
obj_create() { # obj_create FILE KEY CONTENT-TYPE
  case "$CLOUD" in
    aws) aws s3api put-object --region "$AWS_REGION" --bucket "$RELEASE_BUCKET" --key "$2" --body "$1" \
      --content-type "$3" --if-none-match '*' >/dev/null ;;
    gcp) gcloud storage cp --quiet --if-generation-match=0 --content-type="$3" "$1" "gs://$RELEASE_BUCKET/$2" ;;
  esac
}
# What the VMs check too: ECDSA P-256 over SHA-256 with the signing key's public key.
# RELEASE_VERIFY_COMMAND replaces cosign in tests.
verify() { # verify FILE SIG
  if [ -n "${RELEASE_VERIFY_COMMAND:-}" ]; then
    $RELEASE_VERIFY_COMMAND "$1" "$2"
  else
    cosign verify-blob --insecure-ignore-tlog=true --key "$RELEASE_SIGNING_KEY" --signature "$2" "$1" >/dev/null
  fi
}
