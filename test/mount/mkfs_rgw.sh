#!/usr/bin/env bash
# mkfs_s3.sh against Ceph's RADOS Gateway, with the wrong-region case that
# s3rver cannot show; skips when the ceph packages are missing.
S3_BACKEND=rgw exec bash "$(dirname "$0")/mkfs_s3.sh"
