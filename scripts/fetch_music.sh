#!/usr/bin/env bash
# Fetches real music from Debian packages into a cache folder, once, and prints the folder:
#   <dest>/<package>/       every track of the package (.ogg, .opus)
#   <dest>/demo/            a small mixed set (orchestral, electronic, adventure-game) for `make run`
# Usage: scripts/fetch_music.sh [--similarity | PACKAGE ...]  (the three of `make run` by default; the
# similarity benchmark passes --similarity: the game-music packages of SIMILARITY_PACKAGES)
# The packages are downloaded with apt-get (no root needed for the download itself; a stale
# package list is refreshed with apt-get update, which does need root).
set -euo pipefail

dest=${TRACKSCAN_MUSIC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trackscan/music}
packages=(wesnoth-1.16-music torus-trooper-data drascula-music)
# Game music of different styles, for the similarity protocol (benchmarks/similarity_protocol.py).
SIMILARITY_PACKAGES=(
  "${packages[@]}" hyperrogue-music nexuiz-music planetblupi-music-ogg singularity-music ufoai-music
  warzone2100-music
)
if [ "${1:-}" = --similarity ]; then
  packages=("${SIMILARITY_PACKAGES[@]}")
elif [ $# -gt 0 ]; then
  packages=("$@")
fi
demo=(
  wesnoth-1.16-music/elvish-theme.ogg
  wesnoth-1.16-music/nunc_dimittis.ogg
  wesnoth-1.16-music/love_theme.ogg
  torus-trooper-data/tt1.ogg
  torus-trooper-data/tt4.ogg
  drascula-music/track1.ogg
  drascula-music/track5.ogg
)

fetch_package() {
  local pkg=$1 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (cd "$work" && { apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$pkg" >/dev/null; }; })
  dpkg -x "$work"/*.deb "$work/root"
  # Some games keep their music in .pk3 files: zip archives (python3's zipfile: no unzip needed).
  find "$work/root" -name '*.pk3' -exec python3 -m zipfile -e {} "$work/root/pk3" \;
  mkdir -p "$dest/$pkg.partial"
  find "$work/root" \( -name '*.ogg' -o -name '*.opus' \) -size +100k -exec cp {} "$dest/$pkg.partial/" \;
  mv "$dest/$pkg.partial" "$dest/$pkg"
}

mkdir -p "$dest"
for pkg in "${packages[@]}"; do
  [ -d "$dest/$pkg" ] || { echo "fetching $pkg" >&2; fetch_package "$pkg"; }
done
mkdir -p "$dest/demo"
for track in "${demo[@]}"; do
  ln -sf "../$track" "$dest/demo/$(basename "$(dirname "$track")")-$(basename "$track")"
done
echo "$dest"
