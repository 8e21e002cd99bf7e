# Shared by the interop suites that start processes: PASS/FAIL lines, stopping every process
# they started (by saved PID, newest first, TERM then KILL), and the closing summary line.
# Source it after setting `log` (the result log); append every started PID to `pids`.
#   . "$here/lib.sh"

pass() { echo "PASS $*" | tee -a "$log"; }
fail() { echo "FAIL $*" | tee -a "$log"; }

pids=()
cleanup() {
  local p i
  # newest first (a box before the SMSC it is bound to)
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    sleep 0.1
  done
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop everything, print `interop: N passed, M failed`, exit non-zero when M > 0.
finish() {
  cleanup
  local passed failed
  passed=$(grep -c '^PASS ' "$log" || true)
  failed=$(grep -c '^FAIL ' "$log" || true)
  echo "interop: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
