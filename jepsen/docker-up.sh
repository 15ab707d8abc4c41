#!/usr/bin/env bash
# Makes a Docker engine available on a Debian machine with no container
# registry (see docs/jepsen.md and ../shared/reference/docker-without-registry.md):
# installs docker.io, iptables, docker-compose (v1) and the tools the Redis
# image build needs when they are missing, then starts dockerd in the
# background if no engine answers. Idempotent; runs as root with no stdin.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v iptables >/dev/null || need+=(iptables)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v nsenter >/dev/null || need+=(util-linux)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "docker-up: installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's packages start the services they install; we only want their
  # binaries (for deploy/local-images.sh). Stop only what this run installed.
  for pkg in "${need[@]}"; do
    case $pkg in redis-server) svc=redis-server ;; nginx-light) svc=nginx ;; *) continue ;; esac
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

if docker info >/dev/null 2>&1; then
  echo "docker-up: engine already running"
  exit 0
fi

# No engine: start one in the background, logging to /var/log/dockerd.log.
if ! pgrep -x dockerd >/dev/null; then
  command -v containerd >/dev/null || { echo "docker-up: containerd missing" >&2; exit 1; }
  nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  echo "docker-up: started dockerd (pid $!)"
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker-up: engine ready ($(docker version -f '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "docker-up: dockerd did not answer within 30s; see /var/log/dockerd.log" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
