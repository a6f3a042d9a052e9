# `ipfs job ...` runs `codsh job ...`; every other `ipfs` command runs kubo's `ipfs` as before.
# Source it from ~/.bashrc or ~/.zshrc (it defines one shell function, `ipfs`):
#
#   . /path/to/codsh/completions/ipfs-job.sh
#   ipfs job submit -e "grep -c rain" -c bafy...   # same as: codsh job submit -e ... -c bafy...
#   ipfs add -r logs/                              # kubo, untouched
#
# kubo has no `job` command, so nothing of kubo's is hidden. `command` skips this function and
# finds the programs on PATH.

ipfs() {
  if [ "$#" -gt 0 ] && [ "$1" = job ]; then
    shift
    command codsh job "$@"
  else
    command ipfs "$@"
  fi
}
