# jqe ARGS...: `jq -e ARGS` on stdin, except that no input at all is false. jq 1.6 exits 0
# when -e sees no input, so a check of output that never came would pass. (Sourced.)
jqe() {
  local input
  input=$(cat)
  [ -n "${input//[[:space:]]/}" ] || return 1
  jq -e "$@" <<<"$input"
}
