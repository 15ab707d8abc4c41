#!/usr/bin/env bash
# Builds local stand-ins for the registry images docker-compose.yml uses
# (redis:7 and nginx:stable) from the host's Debian packages, for machines
# with no container registry (CI here). Real users just let compose pull.
#
# Each image is a minimal root filesystem: the binary, the shared libraries
# ldd lists for it, and the few files it reads; imported with `docker import`.
# Skips a tag that already exists unless FORCE=1. Needs root, docker,
# redis-server and nginx (jepsen/docker-up.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_TAG=${REDIS_TAG:-redis:7}
NGINX_TAG=${NGINX_TAG:-nginx:stable}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# copy_with_libs ROOT BIN [NAME]: BIN (dereferenced) and every library ldd names.
copy_with_libs() {
  local root=$1 bin=$2 dest=${3:-$2}
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  # mawk has no \s: match fields, not regexes with classes.
  for l in $(ldd "$bin" | awk '$2=="=>" && $3 ~ /^\// {print $3} $1 ~ /^\/lib/ {print $1}'); do
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
  done
}

if have "$REDIS_TAG"; then
  echo "local-images: $REDIS_TAG exists"
else
  R=$work/redis
  mkdir -p "$R/data" "$R/tmp" && chmod 1777 "$R/tmp"
  # redis-server picks its mode from argv[0]: keep that name.
  copy_with_libs "$R" /usr/bin/redis-server /usr/local/bin/redis-server
  tar -C "$R" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change 'CMD ["redis-server", "--protected-mode", "no"]' \
    - "$REDIS_TAG" >/dev/null
  echo "local-images: built $REDIS_TAG from Debian's redis-server $(dpkg-query -W -f '${Version}' redis-server)"
fi

if have "$NGINX_TAG"; then
  echo "local-images: $NGINX_TAG exists"
else
  N=$work/nginx
  mkdir -p "$N/tmp" "$N/run" "$N/var/log/nginx" "$N/var/lib/nginx" "$N/etc/nginx/conf.d"
  chmod 1777 "$N/tmp"
  copy_with_libs "$N" /usr/sbin/nginx
  cp /etc/nginx/mime.types "$N/etc/nginx/"
  cp deploy/nginx/nginx.conf "$N/etc/nginx/nginx.conf"
  cp deploy/nginx/korum.conf "$N/etc/nginx/conf.d/default.conf"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/sbin/nologin\n' >"$N/etc/passwd"
  printf 'root:x:0:\nwww-data:x:33:\n' >"$N/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$N/etc/nsswitch.conf"
  # docker import does not accept STOPSIGNAL: compose sets stop_signal.
  tar -C "$N" -c . | docker import \
    --change 'ENV PATH=/usr/sbin:/usr/bin' \
    --change 'EXPOSE 80' \
    --change 'CMD ["nginx", "-g", "daemon off;"]' \
    - "$NGINX_TAG" >/dev/null
  echo "local-images: built $NGINX_TAG from Debian's nginx $(dpkg-query -W -f '${Version}' nginx 2>/dev/null || echo '?')"
fi
