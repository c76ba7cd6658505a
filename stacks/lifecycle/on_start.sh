#!/bin/bash
# OnStart lifecycle script (rendered by stacks/lifecycle_scripts.py): installs a checker that
# stops this notebook instance after @@IDLE_MINUTES@@ idle minutes. Why it looks like this:
# - Only /home/ec2-user/SageMaker survives a stop, so every start writes these files again.
# - A lifecycle script that runs 5 minutes fails the start: this one only writes files.
# - Nothing is downloaded (the checker is embedded), so it works without internet access.
# - A systemd timer: Amazon Linux 2 and 2023 both boot with systemd, but AL2023 has no cron.
# - No dollar-brace expansions: CloudFormation's Fn::Sub may process this text.
# Decisions are logged to the journal: sudo journalctl -u notebook-idle-stop
set -euo pipefail

IDLE_MINUTES=@@IDLE_MINUTES@@
UNIT_NAME=notebook-idle-stop
CHECKER=/usr/local/bin/notebook-idle-check.py
SYSTEMD_UNIT_DIR=/etc/systemd/system
SYSTEMD_RUNTIME_DIR=/run/systemd/system
CRON_DIR=/etc/cron.d
CRON_LOG=/var/log/notebook-idle-stop.log
# The system python3 first: SageMaker does not update it and users do not install into it
# (3.7 on AL2, 3.9 on AL2023; the checker supports both). Conda's python is the fallback.
PYTHON_CANDIDATES="/usr/bin/python3 /home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python /home/ec2-user/anaconda3/bin/python3"

PYTHON=""
# shellcheck disable=SC2086  # the list is split on spaces on purpose
for candidate in $PYTHON_CANDIDATES; do
  if [ -x "$candidate" ]; then
    PYTHON=$candidate
    break
  fi
done
if [ -z "$PYTHON" ]; then
  echo "idle auto-stop: no python3 found (looked for $PYTHON_CANDIDATES)" >&2
  exit 1
fi

mkdir -p "$(dirname "$CHECKER")"
cat > "$CHECKER" <<'IDLE_CHECK_PY'
@@IDLE_CHECK_PY@@
IDLE_CHECK_PY
chmod 0755 "$CHECKER"
# Fail the start now, in the lifecycle log, rather than silently every 5 minutes later.
"$PYTHON" "$CHECKER" --help > /dev/null

CHECK_COMMAND="$PYTHON $CHECKER --idle-minutes $IDLE_MINUTES"

if command -v systemctl > /dev/null 2>&1 && [ -d "$SYSTEMD_RUNTIME_DIR" ]; then
  cat > "$SYSTEMD_UNIT_DIR/$UNIT_NAME.service" <<UNIT
[Unit]
Description=Stop this notebook instance after $IDLE_MINUTES idle minutes

[Service]
Type=oneshot
ExecStart=$CHECK_COMMAND
UNIT
  cat > "$SYSTEMD_UNIT_DIR/$UNIT_NAME.timer" <<UNIT
[Unit]
Description=Check every 5 minutes whether this notebook instance is idle

[Timer]
OnCalendar=*:0/5
AccuracySec=30s

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  # Not "enable --now": Amazon Linux 2 ships systemd 219, which predates that option.
  systemctl enable "$UNIT_NAME.timer"
  systemctl start "$UNIT_NAME.timer"
  echo "idle auto-stop: systemd timer $UNIT_NAME.timer checks every 5 minutes," \
    "stops after $IDLE_MINUTES idle minutes"
elif [ -d "$CRON_DIR" ] && command -v crond > /dev/null 2>&1; then
  echo "*/5 * * * * root $CHECK_COMMAND >> $CRON_LOG 2>&1" > "$CRON_DIR/$UNIT_NAME"
  chmod 0644 "$CRON_DIR/$UNIT_NAME"
  echo "idle auto-stop: cron checks every 5 minutes (log $CRON_LOG)," \
    "stops after $IDLE_MINUTES idle minutes"
else
  # Failing is deliberate: a notebook that was meant to stop itself, and silently never does,
  # runs up a bill. Set idle_minutes to 0 to start without auto-stop.
  echo "idle auto-stop: neither systemd nor cron is running; cannot schedule the checker" >&2
  exit 1
fi
