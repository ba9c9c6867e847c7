#!/usr/bin/env bash
# lbox matrix: a function whose output depends on process.arch is reported as differing
# (exit 4, a unified diff naming the field), a pure function as equal on all six
# combinations (exit 0), and a throwing function as failed (exit 3).
source "$LBOX_SRC/tests/lib/common.sh"
FIX=$LBOX_SRC/tests/fixtures/qemu
printf '{"n": 7, "numbers": [3, 1, 2], "name": "lbox"}' >"$T/event.json"

# Architecture-dependent output, 2 runtimes x 2 arches.
rc=0
"$LBOX" matrix --code "$FIX/arch" --event "$T/event.json" --runtimes nodejs16.x,nodejs18.x \
  --arches x86_64,arm64 --jobs 2 >"$T/out" 2>"$T/err" || rc=$?
check "arch-dependent: exit 4 (differs) (got $rc: $(tail -3 "$T/err"))" [ "$rc" -eq 4 ]
check "arch-dependent: four rows, all ok" \
  [ "$(grep -cE '^nodejs1[68]\.x +(x86_64|arm64) +ok ' "$T/out")" -eq 4 ]
check "arch-dependent: the arm64 rows differ from the x86_64 reference" \
  [ "$(grep -cE '^nodejs1[68]\.x +arm64 +ok .*differs$' "$T/out")" -eq 2 ]
check "arch-dependent: the x86_64 rows are the same" \
  [ "$(grep -cE '^nodejs1[68]\.x +x86_64 +ok .*same' "$T/out")" -eq 2 ]
check "arch-dependent: a unified diff shows the field" \
  bash -c "grep -q '^-  \"arch\": \"x64\"' '$T/out' && grep -q '^+  \"arch\": \"arm64\"' '$T/out'"

# A pure function, every runtime and arch, as JSON.
rc=0
"$LBOX" matrix --code "$FIX/pure" --event "$T/event.json" --jobs 2 --json >"$T/out.json" 2>"$T/err" || rc=$?
check "pure: exit 0 (got $rc: $(tail -3 "$T/err"))" [ "$rc" -eq 0 ]
check "pure: six combinations, all ok, none differs, equal" \
  jqe '(.results | length == 6) and .equal and all(.results[]; .status == "ok" and (.differs | not))' <"$T/out.json"
check "pure: the response is the function's" \
  jqe '.results[0].response == {"sum": 6, "sorted": [1, 2, 3], "upper": "LBOX"}' <"$T/out.json"
check "pure: durations and max memory reported, init duration on the cold start" \
  jqe 'all(.results[]; .duration_ms > 0 and .max_memory_mb > 0 and .init_duration_ms > 0)' <"$T/out.json"
check "pure: both arches and all three runtimes ran" \
  jqe '([.results[].arch] | unique) == ["arm64", "x86_64"] and ([.results[].runtime] | unique | length) == 3' <"$T/out.json"

# A function error is a failed combination.
mkdir -p "$T/throw"
echo 'exports.handler = async () => { throw new Error("boom"); };' >"$T/throw/index.js"
# (Also: the results folder a killed matrix left, which no running one holds, goes.)
leftover=$XDG_CACHE_HOME/lbox/tmp/matrix-killed01
mkdir -p "$leftover" && echo '{}' >"$leftover/0.json"
rc=0
"$LBOX" matrix --code "$T/throw" --runtimes nodejs18.x --arches x86_64 >"$T/out" 2>"$T/err" || rc=$?
check "throwing: exit 3 and status error (got $rc)" \
  bash -c "[ $rc -eq 3 ] && grep -qE '^nodejs18\.x +x86_64 +error ' '$T/out'"
check "a killed matrix's results folder is taken" test ! -e "$leftover"

# A streamed response is held to Lambda's 20 MiB, as invoke holds it, not to the smaller
# budget of a buffered body.
echo '{"bytes": 17825792}' >"$T/stream17.json"
rc=0
"$LBOX" matrix --code "$LBOX_SRC/examples/streaming" --runtimes nodejs18.x --arches x86_64 \
  --event "$T/stream17.json" --json >"$T/out.json" 2>"$T/err" || rc=$?
check "streaming 17 MiB: exit 0, ok (got $rc: $(tail -2 "$T/err"))" \
  bash -c "[ $rc -eq 0 ] && jq -e '.results[0].status == \"ok\"' '$T/out.json' >/dev/null"
check "streaming 17 MiB: the whole response is the function's" \
  jqe '.results[0].response | (length == 17825792 and test("^x+$"))' <"$T/out.json"
echo '{"bytes": 22020096}' >"$T/stream21.json"
rc=0
"$LBOX" matrix --code "$LBOX_SRC/examples/streaming" --runtimes nodejs18.x --arches x86_64 \
  --event "$T/stream21.json" --json >"$T/out.json" 2>"$T/err" || rc=$?
check "streaming 21 MiB: exit 3, Function.ResponseSizeTooLarge (got $rc)" \
  bash -c "[ $rc -eq 3 ] && grep -q ResponseSizeTooLarge '$T/out.json'"

expect_fail "an unknown architecture is a usage error" "unknown architecture 'sparc'" \
  "$LBOX" matrix --code "$FIX/pure" --arches sparc

# Bad names exit 2 before anything is built (no image appears in the store).
for args in "--runtimes nodejs18.x,nodejs18.x" "--arches x86_64,amd64" "--arches sparc" \
  "--runtimes nodejs20.x" "--runtimes nodejs18.x,nodejs20.x --arches x86_64"; do
  rc=0
  # shellcheck disable=SC2086 # $args is several words on purpose
  XDG_DATA_HOME=$T/usage "$LBOX" matrix --code "$FIX/pure" $args >"$T/out" 2>"$T/err" || rc=$?
  check "matrix $args: exit 2 (got $rc: $(tail -1 "$T/err"))" [ "$rc" -eq 2 ]
  check "matrix $args: built nothing" [ ! -e "$T/usage/lbox/store/index.json" ]
done
check "an unknown runtime is named with the known ones" \
  grep -q "unknown runtime 'nodejs20.x': use nodejs14.x, nodejs16.x or nodejs18.x" "$T/err"
expect_fail "an arch named twice (amd64 is x86_64) is named" "'amd64' is named twice in --arches" \
  "$LBOX" matrix --code "$FIX/pure" --arches x86_64,amd64
expect_fail "a runtime named twice is named" "'nodejs16.x' is named twice in --runtimes" \
  "$LBOX" matrix --code "$FIX/pure" --runtimes nodejs16.x,nodejs18.x,nodejs16.x
expect_fail "an unknown architecture names every accepted spelling" \
  "unknown architecture 'sparc': use x86_64 \(or amd64\) or arm64 \(or aarch64\)" \
  "$LBOX" matrix --code "$FIX/pure" --arches x86_64,sparc
finish
