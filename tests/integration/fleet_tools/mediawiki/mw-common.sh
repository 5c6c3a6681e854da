# Shared by the MediaWiki maintenance host stand-ins (sourced): their state lives in $FLEET_STATE_DIR/mediawiki.
#   units/<unit>          "enabled" or "disabled" (systemctl is-enabled); units/<unit>.active: the unit is running
#   processes             one process a line, its command line; a leading "~" ignores SIGTERM, "!" ignores SIGKILL too
#   <tool>.log            the arguments of every call of each stand-in
state="${FLEET_STATE_DIR:?not a fleet host}/mediawiki"
mkdir -p "$state/units"
touch "$state/processes"

log_call() {
    tool=$1
    shift
    printf '%s\n' "$*" >> "$state/$tool.log"
}

# signal_processes WHAT REGEX SIGNAL: WHAT is "name" (the program's base name) or "full" (the command line); the
# matching processes that do not ignore SIGNAL (TERM or KILL) go away. Exits 0 if any process matched, 1 otherwise.
signal_processes() {
    : > "$state/processes.new"
    awk -v what="$1" -v re="$2" -v sig="$3" -v out="$state/processes.new" '
        {
            mark = substr($0, 1, 1); cmd = $0
            if (mark == "~" || mark == "!") cmd = substr($0, 2)
            split(cmd, words, " "); n = split(words[1], parts, "/")
            subject = (what == "name") ? parts[n] : cmd
            if (subject ~ re) {
                matched = 1
                if (mark == "!" || (mark == "~" && sig == "TERM")) print $0 > out
                next
            }
            print $0 > out
        }
        END { exit matched ? 0 : 1 }
    ' "$state/processes"
    rc=$?
    mv "$state/processes.new" "$state/processes"
    return $rc
}
