#!/usr/bin/env bash
# Builds the Dockerfile with buildah where Docker Hub cannot be reached (CI here reaches package
# registries only): the two base images the Dockerfile names are assembled locally from registry
# packages — Debian bookworm by debootstrap from Debian's archive, Node 24 from the npm `node` package
# this repository pins, npm from the npm registry, Go from this machine's toolchain — and passed as
# NODE_IMAGE / GO_IMAGE build arguments. Then the real Dockerfile builds unchanged.
# Usage: deploy/image/build-local.sh [image-tag]   (root, buildah and debootstrap installed)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG="${1:-localhost/portcullis:dev}"
WORK="${PORTCULLIS_IMAGE_WORK:-${TMPDIR:-/tmp}/portcullis-image}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILDAH=(buildah --storage-driver vfs)
mkdir -p "$WORK"
log() { printf '[image] %s\n' "$*" >&2; }
has_image() { "${BUILDAH[@]}" inspect --type image "$1" > /dev/null 2>&1; }

if ! has_image localhost/portcullis-base/debian:bookworm; then
  if [ ! -x "$WORK/rootfs/bin/sh" ]; then
    log "debootstrap bookworm (minbase) from $MIRROR"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log"
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  fi
  ctr=$("${BUILDAH[@]}" from scratch)
  mnt=$("${BUILDAH[@]}" mount "$ctr")
  cp -a "$WORK/rootfs/." "$mnt/"
  # Trust what this machine trusts (a registry proxy's CA, say) while building; the runtime stage's
  # own ca-certificates package regenerates the bundle from Debian's list.
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
  "${BUILDAH[@]}" umount "$ctr" > /dev/null
  "${BUILDAH[@]}" config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  "${BUILDAH[@]}" commit -q "$ctr" localhost/portcullis-base/debian:bookworm > /dev/null
  "${BUILDAH[@]}" rm "$ctr" > /dev/null
fi

if ! has_image localhost/portcullis-base/node:24; then
  log "node:24 base from node_modules/node (the pinned Node) and the npm registry's npm"
  node_bin="$(readlink -f node_modules/node/bin/node)"
  "$node_bin" --version | grep -q '^v24\.' || { echo "node_modules/node is not Node 24" >&2; exit 1; }
  rm -rf "$WORK/npm" && mkdir -p "$WORK/npm"
  (cd "$WORK/npm" && npm pack --silent npm@11 > /dev/null && tar xzf npm-*.tgz)
  ctr=$("${BUILDAH[@]}" from localhost/portcullis-base/debian:bookworm)
  mnt=$("${BUILDAH[@]}" mount "$ctr")
  install -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$WORK/npm/package" "$mnt/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  "${BUILDAH[@]}" umount "$ctr" > /dev/null
  "${BUILDAH[@]}" config --cmd node --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$ctr"
  "${BUILDAH[@]}" commit -q "$ctr" localhost/portcullis-base/node:24 > /dev/null
  "${BUILDAH[@]}" rm "$ctr" > /dev/null
fi

if ! has_image localhost/portcullis-base/golang:1.26; then
  log "golang base from this machine's Go toolchain ($(go version))"
  goroot="$(go env GOROOT)"
  ctr=$("${BUILDAH[@]}" from localhost/portcullis-base/debian:bookworm)
  mnt=$("${BUILDAH[@]}" mount "$ctr")
  mkdir -p "$mnt/usr/local/go"
  cp -a "$goroot/." "$mnt/usr/local/go/"
  "${BUILDAH[@]}" umount "$ctr" > /dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOTOOLCHAIN=local --env GOPROXY="$(go env GOPROXY)" "$ctr"
  "${BUILDAH[@]}" commit -q "$ctr" localhost/portcullis-base/golang:1.26 > /dev/null
  "${BUILDAH[@]}" rm "$ctr" > /dev/null
fi

log "buildah build -t $TAG"
# chroot isolation: no OCI runtime or cgroup setup needed; docker format keeps HEALTHCHECK.
"${BUILDAH[@]}" build --isolation chroot --network host --format docker --layers=false \
  --build-arg NODE_IMAGE=localhost/portcullis-base/node:24 \
  --build-arg GO_IMAGE=localhost/portcullis-base/golang:1.26 \
  --build-arg REVISION="$(git rev-parse HEAD 2> /dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$TAG" . >&2
echo "$TAG"
