#!/usr/bin/env bash
# Build the platform's local images without a registry (`make images` calls this).
#
#   images/build.sh [minio] [nginx] [keycloak] [signin] [backup] [prometheus] [alertmanager]   (default: all)
#
# Every image is built FROM $BASE_IMAGE. The default base, minio-platform/debian:bookworm, is made
# here with debootstrap from the Debian mirror this machine's apt uses, when Docker has no such
# image yet (once: FORCE does not remake it). An image built from the same recipe (its directory
# here: the Dockerfile and what lies beside it, fingerprinted in a label) is kept; an edited recipe
# rebuilds it, and FORCE=1 rebuilds it anyway. Names are this project's
# own (minio-platform/...), never a registry's. Inputs, all from the Makefile:
#   MINIO_BIN, MC_BIN                 static binaries built from source (make tools)
#   MINIO_IMAGE, NGINX_IMAGE, KEYCLOAK_IMAGE, SIGNIN_IMAGE, BACKUP_IMAGE, PROMETHEUS_IMAGE, ALERTMANAGER_IMAGE,
#   BASE_IMAGE                        image names to produce
#   MINIO_VERSION, MC_VERSION, KEYCLOAK_VERSION            recorded as labels / fetched
#   IMAGES_CACHE                      build contexts and downloads (outside the repository)
#   PIP                               the pip that fetches the bridge's wheels (the project's venv)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_IMAGE:=minio-platform/debian:bookworm}" "${IMAGES_CACHE:=$HOME/.cache/minio-platform/images}"
# The legacy builder: Debian's engine has no buildx, so BuildKit is not available.
export DOCKER_BUILDKIT=0

say() { printf 'images: %s\n' "$*" >&2; }
RECIPE_LABEL=com.minio-platform.recipe
present() { docker image inspect "$1" >/dev/null 2>&1; }
# The fingerprint of images/<name>/ (and, for signin, the project's own signin/ package it ships):
# every file's name and content.
recipe() {
  local dirs=("$HERE/$1")
  [ "$1" = signin ] && dirs+=("$HERE/../signin")
  [ "$1" = backup ] && dirs+=("$HERE/../day2")
  (for dir in "${dirs[@]}"; do (cd "$dir" && find . -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum); done) |
    sha256sum | cut -c1-16
}
exists() { # image recipe-name: built from this recipe already (and no FORCE)
  [ -z "${FORCE:-}" ] || return 1
  [ "$(docker image inspect -f "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$1" 2>/dev/null)" = "$(recipe "$2")" ]
}

base() {
  present "$BASE_IMAGE" && return
  [ "$BASE_IMAGE" = minio-platform/debian:bookworm ] ||
    { say "base image $BASE_IMAGE is not in Docker: build or load it first"; exit 1; }
  command -v debootstrap >/dev/null || { say "debootstrap is needed for the base image (apt-get install debootstrap)"; exit 1; }
  local mirror root
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null | grep -m1 '/debian/$' ||
    echo http://deb.debian.org/debian/)
  root=$(mktemp -d "$IMAGES_CACHE/debian.XXXXXX")
  say "debootstrap bookworm (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -20 "$root.log" >&2; exit 1; }
  cat >"$root/etc/apt/sources.list" <<SOURCES
deb ${mirror%/} bookworm main
deb ${mirror%/} bookworm-updates main
deb ${mirror%/}-security bookworm-security main
SOURCES
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root" "$root.log"
}

build() { # image recipe-name context-dir [build-arg...]
  local image=$1 name=$2 context=$3; shift 3
  say "building $image"
  docker build --quiet --pull=false --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "$RECIPE_LABEL=$(recipe "$name")" \
    "$@" -t "$image" "$context" >/dev/null
}

minio() {
  exists "$MINIO_IMAGE" minio && return
  local context=$IMAGES_CACHE/minio-context
  rm -rf "$context"; mkdir -p "$context"
  cp "$HERE/minio/Dockerfile" "$MINIO_BIN" "$MC_BIN" "$context/"
  build "$MINIO_IMAGE" minio "$context" --build-arg "MINIO_SOURCE_VERSION=$MINIO_VERSION" \
    --build-arg "MC_SOURCE_VERSION=$MC_VERSION"
}

nginx() {
  exists "$NGINX_IMAGE" nginx && return
  build "$NGINX_IMAGE" nginx "$HERE/nginx"
}

keycloak() {
  exists "$KEYCLOAK_IMAGE" keycloak && return
  local zip=$IMAGES_CACHE/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip context=$IMAGES_CACHE/keycloak-context
  if [ ! -f "$zip" ]; then
    say "fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip (Maven Central)"
    mvn -q dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$IMAGES_CACHE"
  fi
  rm -rf "$context"; mkdir -p "$context"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$context"
  mv "$context/keycloak-$KEYCLOAK_VERSION" "$context/keycloak"
  chmod +x "$context"/keycloak/bin/*.sh
  cp "$HERE/keycloak/Dockerfile" "$context/"
  build "$KEYCLOAK_IMAGE" keycloak "$context" --build-arg "KEYCLOAK_VERSION=$KEYCLOAK_VERSION"
  rm -rf "$context"
}

# Python wheels of a requirements file, for CPython 3.11 on x86_64 glibc (Debian bookworm's python3),
# from PyPI through this machine's pip (its index and trust settings); the builds install them offline.
wheels() { # requirements-file destination
  ${PIP:-python3 -m pip} download --quiet --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform any -r "$1" -d "$2"
}

# A Python service of this project: its package's modules and the wheels of its requirements.txt.
python_service() { # image recipe-name package what
  local image=$1 name=$2 package=$3 what=$4
  exists "$image" "$name" && return
  local context=$IMAGES_CACHE/$name-context
  rm -rf "$context"; mkdir -p "$context/$package" "$context/wheels"
  cp "$HERE/$name/Dockerfile" "$HERE/../$package/requirements.txt" "$context/"
  cp "$HERE/../$package"/*.py "$context/$package/"
  say "fetching the $what's wheels ($package/requirements.txt)"
  wheels "$context/requirements.txt" "$context/wheels"
  build "$image" "$name" "$context"
  rm -rf "$context"
}

signin() { python_service "$SIGNIN_IMAGE" signin signin "sign-in bridge"; }
backup() { python_service "$BACKUP_IMAGE" backup day2 "backup service"; }

prometheus() {
  exists "$PROMETHEUS_IMAGE" prometheus && return
  build "$PROMETHEUS_IMAGE" prometheus "$HERE/prometheus"
}

alertmanager() {
  exists "$ALERTMANAGER_IMAGE" alertmanager && return
  build "$ALERTMANAGER_IMAGE" alertmanager "$HERE/alertmanager"
}

mkdir -p "$IMAGES_CACHE"
base
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(minio nginx keycloak signin backup prometheus alertmanager)
for target in "${targets[@]}"; do "$target"; done
