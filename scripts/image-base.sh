#!/usr/bin/env bash
# Build the local base image `localhost/debian-base:bookworm` without Docker Hub:
# debootstrap a minimal Debian bookworm (with Debian's Python 3.11, venv and CA certificates)
# from the apt mirror this machine already uses, and import it with podman.
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds). Needs root, debootstrap, podman.
set -euo pipefail
IMAGE="${BASE_IMAGE:-localhost/debian-base:bookworm}"
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE" 2>/dev/null; then
  echo "$IMAGE exists"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "$tool missing: apt-get install buildah podman runc debootstrap" >&2; exit 1; }
done
# The mirror apt already uses (deb822 sources or a classic sources.list), else deb.debian.org.
MIRROR="${DEBIAN_MIRROR:-$(grep -hoE '^URIs: *http[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')}"
MIRROR="${MIRROR:-$(grep -hoE '^deb +http[^ ]+/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | awk '{print $2}')}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOT="$(mktemp -d /var/tmp/debian-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "debootstrap bookworm from $MIRROR ..."
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOT" "$MIRROR" >/dev/null
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | podman import - "$IMAGE" >/dev/null
echo "imported $IMAGE"
