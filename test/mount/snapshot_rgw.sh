#!/usr/bin/env bash
# snapshot_s3.sh against Ceph's RADOS Gateway (test/support/rgw.sh): a fresh
# cluster with no bucket; skips when the ceph packages are missing.
S3_BACKEND=rgw exec bash "$(dirname "$0")/snapshot_s3.sh"
