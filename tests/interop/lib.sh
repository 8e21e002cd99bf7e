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

# cargo_build WHAT CARGO-ARGS... : build in the repo root (`root`), PASS/FAIL "build: WHAT built",
# stop the suite on failure; then `target_dir` is cargo's target directory.
cargo_build() {
  local what=$1 t0=$SECONDS
  shift
  echo "[$(basename "$0" .sh)] cargo build $*"
  if (cd "$root" && cargo build --quiet "$@") >"$out/build.log" 2>&1; then
    pass "build: $what built ($((SECONDS - t0))s)"
  else
    cat "$out/build.log" >&2
    fail "build: $what built (cargo build failed, see above)"
    finish
  fi
  target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  target_dir=${target_dir:-$root/target}
}

# json EXPR : evaluate a Python expression over the JSON on stdin bound to `j`
json() { python3 -c "import json,sys; j=json.load(sys.stdin); r=($1); print(r if r is not None else '')" 2>/dev/null; }
# get CURL-ARGS... : a bounded quiet HTTP request
get() { curl -s --max-time 10 "$@"; }
