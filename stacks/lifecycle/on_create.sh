#!/bin/bash
# OnCreate lifecycle script (template rendered by stacks/lifecycle_scripts.py): copies the
# tutorial's sample images into the project bucket, once, when the instance is created.
#
# Why it is written this way:
# - SageMaker fails the creation if a lifecycle script runs for 5 minutes, so the copy runs
#   in the background (setsid + nohup: it outlives this script) and this script returns at once.
# - The log sits on the persistent volume, where the notebook user can read it.
# - The source is the prefix the tutorial syncs as a whole (ten images); the copy is
#   bucket-to-bucket, so nothing passes through the instance's network.
# - A missing AWS CLI or a failed copy never fails the creation: the images are a convenience.
# - No dollar-brace expansions anywhere: CloudFormation's Fn::Sub may process this text.
set -euo pipefail

SOURCE='@@SAMPLE_SOURCE@@'
DESTINATION='s3://@@BUCKET@@/@@PREFIX@@/images/'
LOG_FILE=/home/ec2-user/SageMaker/sample-images-sync.log

mkdir -p "$(dirname "$LOG_FILE")"
touch "$LOG_FILE"
# Root runs this script; let the notebook user manage the log file afterwards.
chown ec2-user:ec2-user "$LOG_FILE" 2> /dev/null || true

if ! command -v aws > /dev/null 2>&1; then
  echo "sample images: aws CLI not found, nothing copied to $DESTINATION" | tee -a "$LOG_FILE" >&2
  exit 0
fi

echo "$(date -u +%FT%TZ) copying $SOURCE to $DESTINATION" >> "$LOG_FILE"
# The inner script gets the URIs as arguments ($1, $2), so no value is ever re-parsed by a shell.
# shellcheck disable=SC2016  # the single quotes are meant: the inner bash expands these
nohup setsid /bin/bash -c \
  'aws s3 sync "$1" "$2" --no-progress; status=$?; echo "$(date -u +%FT%TZ) exit status $status"' \
  sample-images-sync "$SOURCE" "$DESTINATION" >> "$LOG_FILE" 2>&1 < /dev/null &
echo "sample images: copying $SOURCE to $DESTINATION in the background; log: $LOG_FILE"
