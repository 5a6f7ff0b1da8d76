#!/usr/bin/env bash
# Build the cloudops runtime image with buildah (no Docker daemon, no Docker Hub).
#   scripts/image.sh [TAG]          default TAG: localhost/cloudops:<version>
# BASE_IMAGE=python:3.11-slim uses Docker Hub's Python instead of the debootstrapped base.
# The machine's extra CA certificates (/usr/local/share/ca-certificates) are mounted into the
# build stage only (pip reaches PyPI through a TLS-intercepting proxy on some networks).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
TAG="${1:-localhost/cloudops:${VERSION}}"
BASE_IMAGE="${BASE_IMAGE:-localhost/debian-base:bookworm}"
if ! command -v buildah >/dev/null || ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing buildah, podman, runc, debootstrap ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc debootstrap >/dev/null
  else
    echo "buildah/podman/debootstrap missing: sudo apt-get install buildah podman runc debootstrap" >&2
    exit 1
  fi
fi
if [ "$BASE_IMAGE" = localhost/debian-base:bookworm ]; then
  BASE_IMAGE="$BASE_IMAGE" scripts/image-base.sh
fi
CA_ARGS=()
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  CA_ARGS=(-v /usr/local/share/ca-certificates:/run/extra-ca:ro)
fi
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
buildah bud --isolation chroot --layers "${CA_ARGS[@]}" \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg VERSION="$VERSION" \
  --build-arg REVISION="$REVISION" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$TAG" .
echo "built $TAG"
