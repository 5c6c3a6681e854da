# Stand-in for Puppet's shell library on a fleet host: the agent's files live in the host's state directory.
# shellcheck shell=bash
PUPPET_STATE_DIR="${FLEET_STATE_DIR:?not a fleet host}/puppet"
PUPPET_DISABLEDLOCK="$PUPPET_STATE_DIR/agent_disabled.lock"
PUPPET_SUMMARY="$PUPPET_STATE_DIR/last_run_summary.yaml"
mkdir -p "$PUPPET_STATE_DIR"

# True when the last agent run completed without failures.
last_run_success() {
    [ -f "$PUPPET_SUMMARY" ] && grep -qx '  failure: 0' "$PUPPET_SUMMARY"
}

# Print the message Puppet was disabled with (nothing when enabled).
disabled_message() {
    [ -f "$PUPPET_DISABLEDLOCK" ] && sed -n 's/^{"disabled_message":"\(.*\)"}$/\1/p' "$PUPPET_DISABLEDLOCK"
}

# Print the value of an agent setting: the host's override in config/NAME, else a default.
puppet_setting() {
    if [ -f "$PUPPET_STATE_DIR/config/$1" ]; then
        cat "$PUPPET_STATE_DIR/config/$1"
        return
    fi
    case "$1" in
        use_srv_records) echo false ;;
        ca_server) echo puppet ;;
        certname) echo "$FLEET_HOST" ;;
        *) echo "" ;;
    esac
}

# Simulate one agent run: write the run summary and append "<time> <failures>" to runs.
# The run fails while the file fail_runs exists in the host's Puppet state directory.
puppet_run() {
    local failure=0 now
    [ -f "$PUPPET_STATE_DIR/fail_runs" ] && failure=1
    now="$(date +%s)"
    printf -- '---\ntime:\n  last_run: %s\nevents:\n  failure: %s\n  success: %s\n  total: 1\n' \
        "$now" "$failure" "$((1 - failure))" > "$PUPPET_SUMMARY.tmp"
    mv "$PUPPET_SUMMARY.tmp" "$PUPPET_SUMMARY"
    echo "$now $failure" >> "$PUPPET_STATE_DIR/runs"
    if [ "$failure" -ne 0 ]; then
        echo "Error: simulated catalog failure on $FLEET_HOST" >&2
        return 1
    fi
    echo "Notice: Applied catalog in 0.01 seconds"
}
