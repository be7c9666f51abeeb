#!/usr/bin/env bash
# Puts California Housing's raw file at data/cache/cal_housing.data, verified by its sha256.
# `dynpmnn train` runs it itself (--download --url --dest) when the file is found nowhere.
#
# Usage: data/fetch_california.sh [--from PATH] [--force] [--download] [--url URL] [--dest DIR]
#   --from PATH  take the file from PATH instead of downloading: either cal_housing.data itself or
#                the cal_housing.tgz archive. Without it, ../shared/data/cal_housing.data beside the
#                repo is used when its checksum matches; otherwise the StatLib archive is downloaded.
#   --force      replace the cached cal_housing.data even when it already verifies.
#   --download   download even where ../shared/data/cal_housing.data exists.
#   --url URL    download from URL (a .tgz/.tar.gz archive holding CaliforniaHousing/cal_housing.data,
#                or the .data file itself) instead of StatLib's archive.
#   --dest DIR   the cache folder to fill instead of data/cache/.
set -euo pipefail

# Also kCaliforniaUrl in data/california_fetch.h.
URL="https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.tgz"
readonly MEMBER="CaliforniaHousing/cal_housing.data"
# Of the file with LF line endings and a final newline; also kCaliforniaSha256 in data/california.h.
readonly SHA256="a2b44dcc7e1c9091b43c4f458b25cbd1f7e8068d08edd26bc4703108d3fa6214"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="$repo_root/data/cache"
shared="$repo_root/../shared/data/cal_housing.data"

die() { echo "fetch_california.sh: $*" >&2; exit 1; }

usage() { sed -n '5,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

from=""
force=0
download=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) [[ $# -ge 2 ]] || die "--from needs a PATH"; from="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --download) download=1; shift ;;
    --url) [[ $# -ge 2 && -n "$2" ]] || die "--url needs a URL"; URL="$2"; shift 2 ;;
    --dest) [[ $# -ge 2 && -n "$2" ]] || die "--dest needs a DIR"; cache_dir="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
dest="$cache_dir/cal_housing.data"
readonly how_to_supply="Supply the file yourself: pass --data PATH or set DYNPMNN_DATA=PATH to a cal_housing.data \
(sha256 $SHA256), or run $0 --from PATH with that file or the cal_housing.tgz archive"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed, cannot verify the file"
  fi
}

# An explicit --from is always read, so a wrong PATH is reported rather than hidden by the cache.
if [[ $force -eq 0 && -z "$from" && -f "$dest" && "$(sha256_of "$dest")" == "$SHA256" ]]; then
  echo "$dest is already present and verified"
  exit 0
fi

mkdir -p "$cache_dir" || die "cannot create the cache folder $cache_dir"
# Work in the cache folder so the final mv is a rename: a reader never sees a half-written file.
work="$(mktemp -d "$cache_dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Copies the raw file from $1 (the .data file or the .tgz archive) into $work/cal_housing.data,
# normalised to LF line endings and a final newline, the form the checksum is of.
extract_normalised() {
  local source="$1"
  local raw="$work/raw"
  case "$source" in
    *.tgz|*.tar.gz)
      tar -xzf "$source" -O "$MEMBER" > "$raw" 2>/dev/null ||
        die "$source is not a gzip'ed tar archive holding $MEMBER (a corrupted or changed download?);" \
            "nothing was written. $how_to_supply" ;;
    *)
      cp "$source" "$raw" ;;
  esac
  tr -d '\r' < "$raw" > "$work/cal_housing.data"
  rm -f "$raw"
  if [[ -s "$work/cal_housing.data" && -n "$(tail -c 1 "$work/cal_housing.data")" ]]; then
    printf '\n' >> "$work/cal_housing.data"
  fi
}

verified() { [[ "$(sha256_of "$work/cal_housing.data")" == "$SHA256" ]]; }

if [[ -n "$from" ]]; then
  [[ -f "$from" ]] || die "--from $from: no such file"
  extract_normalised "$from"
  verified || die "$from: sha256 $(sha256_of "$work/cal_housing.data") does not match the expected $SHA256;" \
                  "nothing was written"
  origin="$from"
else
  origin=""
  if [[ $download -eq 0 && -f "$shared" ]]; then
    extract_normalised "$shared"
    if verified; then
      origin="$shared"
    else
      echo "fetch_california.sh: $shared does not match the expected checksum, downloading instead" >&2
    fi
  fi
  if [[ -z "$origin" ]]; then
    echo "Downloading $URL"
    # The name keeps the URL's ending: extract_normalised tells an archive from the file by it.
    case "$URL" in
      *.tgz|*.tar.gz) fetched="$work/cal_housing.tgz" ;;
      *) fetched="$work/cal_housing.download" ;;
    esac
    # Bounded: a dead network fails within the connect timeout rather than hanging the training.
    if command -v curl >/dev/null 2>&1; then
      curl -fsSL --connect-timeout 20 --max-time 600 --retry 2 -o "$fetched" "$URL" ||
        die "download of $URL failed (curl's message above says why: offline, server unreachable or file missing). $how_to_supply"
    elif command -v wget >/dev/null 2>&1; then
      wget -q --timeout=20 --tries=3 -O "$fetched" "$URL" ||
        die "download of $URL failed (wget's exit status $?: offline, server unreachable or file missing). $how_to_supply"
    else
      die "neither curl nor wget is installed, cannot download $URL. $how_to_supply"
    fi
    extract_normalised "$fetched"
    verified || die "$URL gave a file with sha256 $(sha256_of "$work/cal_housing.data"), expected $SHA256;" \
                    "it was deleted and nothing was written to $cache_dir. The archive may have changed upstream" \
                    "or been corrupted on the way. $how_to_supply"
    origin="$URL"
  fi
fi

mv "$work/cal_housing.data" "$dest"
echo "$dest written from $origin (sha256 verified)"
