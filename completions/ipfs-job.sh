# `ipfs job ...` runs `codsh job ...`; every other `ipfs` command runs kubo's `ipfs` as before.
# Source it from ~/.bashrc or ~/.zshrc (in zsh after compinit): it defines one shell function,
# `ipfs`, and TAB completion of `ipfs job ...` (codsh's own; kubo's completion, if it was loaded
# before, still completes every other `ipfs` command).
#
#   . /path/to/codsh/completions/ipfs-job.sh
#   ipfs job submit -e "grep -c rain" -c bafy...   # same as: codsh job submit -e ... -c bafy...
#   ipfs --api /ip4/127.0.0.1/tcp/5001 job list    # kubo's global options may come first
#   ipfs add -r logs/                              # kubo, untouched
#
# kubo has no `job` command, so nothing of kubo's is hidden. Of kubo's global options, `--api
# ADDR` becomes codsh's `--ipfs ADDR` and `--repo-dir DIR` (`-c`, `--config`) the API of that
# repo; any other is refused for `ipfs job` (codsh has no equivalent). `command` skips this
# function and finds the programs on PATH.

# kubo's global options that take a value (`ipfs --help`): the word after them is not a command
_ipfs_job_valued='--api --repo-dir -c --config --config-file --cid-base --enc --encoding --timeout'

_ipfs_job_takes_value() {
  case " $_ipfs_job_valued " in *" $1 "*) return 0 ;; esac
  return 1
}

ipfs() {
  local word skip=0 is_job=0
  for word in "$@"; do  # is the first word after kubo's global options `job`?
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $word in
      --) break ;;
      -*) _ipfs_job_takes_value "$word" && skip=1 ;;
      job) is_job=1; break ;;
      *) break ;;
    esac
  done
  if [ "$is_job" = 0 ]; then
    command ipfs "$@"
    return
  fi
  local api=""
  while [ "$#" -gt 0 ]; do
    case $1 in
      job) shift; break ;;
      --api) api=$2; shift 2 ;;
      --api=*) api=${1#--api=}; shift ;;
      --repo-dir|-c|--config) api=$(_ipfs_job_repo_api "$2") || return 2; shift 2 ;;
      --repo-dir=*|--config=*) api=$(_ipfs_job_repo_api "${1#*=}") || return 2; shift ;;
      *)
        echo "ipfs job: kubo's option $1 does not apply to codsh" >&2
        echo "  hint: give --api ADDR or --repo-dir DIR, or put codsh's own options after 'job submit'" >&2
        return 2 ;;
    esac
  done
  if [ -n "$api" ]; then
    command codsh --ipfs "$api" job "$@"
  else
    command codsh job "$@"
  fi
}

_ipfs_job_repo_api() {  # the API address a running daemon wrote into repo $1
  if [ -r "$1/api" ]; then
    cat "$1/api"
  else
    echo "ipfs job: no running kubo daemon in $1 (no $1/api file)" >&2
    echo "  hint: start it with \`IPFS_PATH=$1 ipfs daemon\`, or give --api ADDR" >&2
    return 1
  fi
}

_ipfs_job_first() {  # index of the first word after kubo's global options, in words $2...
  local index=$1 word skip=0
  shift 2
  for word in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; index=$((index + 1)); continue; fi
    case $word in
      -*) _ipfs_job_takes_value "$word" && skip=1 ;;
      *) break ;;
    esac
    index=$((index + 1))
  done
  echo "$index"
}

if [ -n "${ZSH_VERSION-}" ]; then
  _ipfs_job_kubo=""  # the completion kubo's script registered for ipfs, if any
  if (( $+_comps )) && [ -n "${_comps[ipfs]-}" ]; then _ipfs_job_kubo=${_comps[ipfs]}; fi

  _ipfs_job_zsh() {
    local first
    first=$(_ipfs_job_first 2 "${(@)words[1,CURRENT-1]}")
    if (( first < CURRENT )) && [[ ${words[first]} == job ]]; then
      words=(codsh "${(@)words[first,-1]}")
      (( CURRENT = CURRENT - first + 2 ))
      local -a response completions described
      local kind key descr i
      response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) _CODSH_COMPLETE=zsh_complete codsh)}")
      for (( i = 1; i + 2 <= ${#response}; i += 3 )); do  # type, value, help: three lines each
        kind=${response[i]} key=${response[i+1]} descr=${response[i+2]}
        if [[ $kind == plain ]]; then
          if [[ $descr == _ ]]; then completions+=("$key"); else described+=("$key":"$descr"); fi
        elif [[ $kind == dir ]]; then
          _path_files -/
        elif [[ $kind == file ]]; then
          _path_files -f
        fi
      done
      [ -n "$described" ] && _describe -V unsorted described -U
      [ -n "$completions" ] && compadd -U -V unsorted -a completions
      return 0
    fi
    if (( first == CURRENT )) && [[ job == ${words[CURRENT]}* ]]; then
      compadd -- job
    fi
    if [ -n "$_ipfs_job_kubo" ]; then "$_ipfs_job_kubo" "$@"; fi
  }
  if (( $+functions[compdef] )); then compdef _ipfs_job_zsh ipfs; fi
elif [ -n "${BASH_VERSION-}" ]; then
  _ipfs_job_kubo=$(complete -p ipfs 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')

  _ipfs_job_bash() {
    local first
    first=$(_ipfs_job_first 1 "${COMP_WORDS[@]:0:COMP_CWORD}")
    if (( first < COMP_CWORD )) && [[ ${COMP_WORDS[first]} == job ]]; then
      local -a rest=("${COMP_WORDS[@]:first}")
      local IFS=$'\n' response completion kind value
      response=$(env COMP_WORDS="codsh ${rest[*]}" COMP_CWORD=$((COMP_CWORD - first + 1)) \
        _CODSH_COMPLETE=bash_complete codsh)
      COMPREPLY=()
      for completion in $response; do
        IFS=',' read -r kind value <<< "$completion"
        if [[ $kind == dir ]]; then
          compopt -o dirnames
        elif [[ $kind == file ]]; then
          compopt -o default
        elif [[ $kind == plain ]]; then
          COMPREPLY+=("$value")
        fi
      done
      return 0
    fi
    COMPREPLY=()
    if [ -n "$_ipfs_job_kubo" ]; then "$_ipfs_job_kubo" "$@"; fi
    if (( first == COMP_CWORD )) && [[ job == "${COMP_WORDS[COMP_CWORD]}"* ]]; then
      COMPREPLY+=(job)
    fi
    return 0
  }
  complete -o nosort -F _ipfs_job_bash ipfs 2>/dev/null
fi
