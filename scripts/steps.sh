# Sourced by .ci/run and scripts/test: run named steps one after another,
# keep going past a failing one, say how long each took, and say at the end
# which failed.
#
#   step "rust tests" cargo test --workspace --no-fail-fast
#   steps_summary   # prints the failed steps; returns non-zero if any
#
# A step is one command (use a function for several, chained with &&:
# `set -e` does not apply inside a command run as a condition).

STEPS_FAILED=()

step() {
  local name=$1
  shift
  echo "== $name"
  local status=0 started=$SECONDS
  "$@" || status=$?
  local took=$((SECONDS - started))
  took="$((took / 60))m$((took % 60))s"
  if [ "$status" -ne 0 ]; then
    echo "!! $name failed (exit $status) after $took"
    STEPS_FAILED+=("$name")
  else
    echo "== $name: passed in $took"
  fi
}

steps_summary() {
  local what=${1:-steps}
  if [ "${#STEPS_FAILED[@]}" -eq 0 ]; then
    echo "== all $what passed"
    return 0
  fi
  echo "== ${#STEPS_FAILED[@]} of the $what failed:"
  printf '   - %s\n' "${STEPS_FAILED[@]}"
  return 1
}
