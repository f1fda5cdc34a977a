#!/usr/bin/env bash
# Run a command and restart it whenever it exits, with back-off (docs/architecture.md, "Recovery": a process
# that exits is restarted). The Procfile runs every process through it, so under `make run` one
# crash no longer makes honcho stop the whole exchange.
#   scripts/supervise.sh CMD [ARGS...]
# SIGTERM/SIGINT go to the command, and then the supervisor exits instead of restarting.
# Back-off: SUPERVISE_BACKOFF_S (default 1) doubling up to SUPERVISE_BACKOFF_MAX_S (default 30),
# back to the start once the command ran SUPERVISE_HEALTHY_S (default 60) seconds.
set -u
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
name=$(basename "$1")
if [ "$name" = env ]; then  # `env VAR=value ... CMD`: name the command
  for arg in "${@:2}"; do case $arg in *=*) ;; *) name=$(basename "$arg"); break ;; esac; done
fi
first=${SUPERVISE_BACKOFF_S:-1}
max=${SUPERVISE_BACKOFF_MAX_S:-30}
healthy=${SUPERVISE_HEALTHY_S:-60}
delay=$first
child=0
stopping=0
stop() {
  stopping=1
  if [ "$child" -ne 0 ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap stop TERM INT
while :; do
  started=$SECONDS
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  # A trapped signal ends `wait` early: wait again until the command itself has exited.
  while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
  child=0
  [ "$stopping" -eq 1 ] && exit 0
  ran=$((SECONDS - started))
  [ "$ran" -ge "$healthy" ] && delay=$first
  echo "[supervise] $name exited with status $rc after ${ran}s; restarting in ${delay}s" >&2
  sleep "$delay" &
  wait $! 2>/dev/null
  [ "$stopping" -eq 1 ] && exit 0
  delay=$(awk -v d="$delay" -v m="$max" 'BEGIN { d *= 2; print (d > m ? m : d) }')
done
