#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: does only what is missing, says what it does.
#   .venv/            Python 3.11 venv with codsh and its dev tools
#   .tools/bin/ipfs   kubo v0.42.0 (an `ipfs` on PATH at that version is linked instead of built)
#   .tools/bin/versitygw  an S3 server for the publisher tests (tests/publish/), v1.8.0
#   a Docker engine   Debian's docker.io, started in the background when none answers
#   images            codsh/busybox, built locally FROM scratch, and codsh/python, a Debian bookworm
#                     rootfs made with debootstrap and `docker import`ed (no registry is needed)
#   zsh, fish         Debian's packages, for the shell completion tests (bash is already there)
#   chromium          Debian's package, for the web page test (headless, DevTools protocol)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KUBO_VERSION=v0.42.0
VERSITYGW_VERSION=v1.8.0
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  if [ ! -f /tmp/.codsh-apt-updated ]; then as_root apt-get update -qq && touch /tmp/.codsh-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# 1. Python venv -------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv/.codsh-installed
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing codsh and dev tools into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

# 2. kubo ----------------------------------------------------------------------------------
mkdir -p .tools/bin
if [ ! -x .tools/bin/ipfs ]; then
  if command -v ipfs >/dev/null && ipfs version --number 2>/dev/null | grep -qx "${KUBO_VERSION#v}"; then
    say "using the ipfs on PATH ($(command -v ipfs), ${KUBO_VERSION})"
    ln -sf "$(command -v ipfs)" .tools/bin/ipfs
  else
    command -v go >/dev/null || { say "Go is needed to build kubo; install it (https://go.dev/dl) and rerun"; exit 1; }
    say "building kubo ${KUBO_VERSION} from the Go module proxy (about 2-4 minutes)"
    go mod download "github.com/ipfs/kubo@${KUBO_VERSION}"
    src="$(go env GOMODCACHE)/github.com/ipfs/kubo@${KUBO_VERSION}"
    (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$ROOT/.tools/bin/ipfs.tmp" ./cmd/ipfs)
    mv .tools/bin/ipfs.tmp .tools/bin/ipfs
  fi
fi
say "kubo $(.tools/bin/ipfs version --number)"

# 2b. the shard runner: PID 1 of every job container (static Go, no dependencies, ~1 s) ------
if [ ! -x .tools/bin/codsh-runner ] || [ -n "$(find runner -newer .tools/bin/codsh-runner -print -quit)" ]; then
  command -v go >/dev/null || { say "Go is needed to build the shard runner (runner/); install it and rerun"; exit 1; }
  say "building the shard runner (runner/main.go)"
  (cd runner && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags=-s -o "$ROOT/.tools/bin/codsh-runner.tmp" .)
  mv .tools/bin/codsh-runner.tmp .tools/bin/codsh-runner
fi

# 2c. versitygw: a real S3 server (POSIX directory backend) the publisher tests start -----------
if [ ! -x .tools/bin/versitygw ]; then
  command -v go >/dev/null || { say "Go is needed to build versitygw; install it and rerun"; exit 1; }
  say "building versitygw ${VERSITYGW_VERSION} from the Go module proxy (about 4 minutes)"
  GOBIN="$ROOT/.tools/gobin" go install "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"
  mv .tools/gobin/versitygw .tools/bin/versitygw && rmdir .tools/gobin
fi

# 3. Docker engine -------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    say "no Docker engine: installing Debian's docker.io"
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd in the background (log: .tools/dockerd.log)"
    (nohup dockerd >"$ROOT/.tools/dockerd.log" 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { say "dockerd did not answer; see .tools/dockerd.log"; exit 1; }
  fi
fi
say "Docker engine $(docker version --format '{{.Server.Version}}') answers"

# 4. Images ---------------------------------------------------------------------------------
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  say "installing Debian's busybox-static for the codsh/busybox image"
  apt_install busybox-static
fi
if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
  say "installing Debian's debootstrap for the codsh/python image"
  apt_install debootstrap
fi
if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  say "installing debian-archive-keyring (debootstrap checks the mirror's signatures with it)"
  apt_install debian-archive-keyring
fi
say "images: building what is missing or out of date (a cold codsh/python takes about 1.5 minutes)"
if [ "$(id -u)" = 0 ]; then
  .venv/bin/codsh images build
else  # debootstrap needs root; busybox does not
  .venv/bin/codsh images build busybox
  as_root env ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} ${CODSH_DEBIAN_MIRROR:+CODSH_DEBIAN_MIRROR="$CODSH_DEBIAN_MIRROR"} \
    .venv/bin/codsh images build python
fi

# 5. Shells the completion tests drive -------------------------------------------------------
for shell in zsh fish; do
  if ! command -v "$shell" >/dev/null; then
    say "installing Debian's $shell for the shell completion tests"
    apt_install "$shell"
  fi
done
# 6. A browser for the web page test (tests/api/test_web.py drives it over the DevTools protocol)
if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium for the web page test"
  apt_install chromium
fi

say "ready: .venv/bin/codsh, .tools/bin/ipfs, .tools/bin/versitygw, Docker, images, zsh, fish and chromium"
