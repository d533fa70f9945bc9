#!/usr/bin/env bash
# outage_s3.sh against Ceph's RADOS Gateway: radosgw is stopped and started
# (the cluster stays); skips when the ceph packages are missing.
S3_BACKEND=rgw exec bash "$(dirname "$0")/outage_s3.sh"
