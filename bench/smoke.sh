#!/usr/bin/env bash
# The benchmark's smoke test for CI: runs the quick mode (make bench-quick)
# into a temporary folder and checks only that it produced a results table
# whose every run answered without errors. No speed is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The harness exits non-zero when a run failed or counted errors.
make --no-print-directory bench-quick ARGS="--out $out/results" >"$out/stdout" 2>"$out/stderr" || {
  cat "$out/stderr" >&2; cat "$out/stdout"; echo "bench smoke: the quick benchmark failed" >&2; exit 1; }
md="$out/results/results.md"
if ! grep -q '^| scenario | tenants | target | req/s' "$md"; then
  cat "$out/stdout"; echo "bench smoke: no results table in $md" >&2; exit 1
fi
# The main table: the rows between "### Requests" and the next heading.
main=$(awk '/^### /{on = ($0 == "### Requests")} on' "$md")
rows=$(grep -cE '^\| (get|post|mix|list) \| [0-9]+ \| ' <<<"$main" || true)
if [ "$rows" -lt 3 ]; then
  cat "$md"; echo "bench smoke: only $rows result rows" >&2; exit 1
fi
# The errors column (the 8th) must be 0 on every row.
bad=$(grep -E '^\| (get|post|mix|list) \| [0-9]+ \| ' <<<"$main" | awk -F'|' '$9+0 != 0 || $5 ~ /failed/' || true)
if [ -n "$bad" ]; then
  cat "$md"; echo "bench smoke: runs with errors:" >&2; echo "$bad" >&2; exit 1
fi
# The quick run's other sections: a resource against items, the start-up.
for section in '### A resource of the application set against items' '### Start-up with the example set'; do
  if ! grep -qF "$section" "$md"; then
    cat "$md"; echo "bench smoke: no section \"$section\"" >&2; exit 1
  fi
done
cat "$md"
echo "bench smoke: 1 passed, 0 failed"
