#!/usr/bin/env bash
# Fetch a small free soundtrack from Debian for the quick start: drascula-music
# (Drascula: The Vampire Strikes Back, Alcachofa Soft; DFSG-free Drascula licence).
# Usage: scripts/fetch_free_music.sh [target-dir]   (default data/free-music)
set -euo pipefail
target=${1:-data/free-music}
package=drascula-music
if ls "$target"/$package/*.ogg >/dev/null 2>&1; then
    echo "free music already in $target/$package"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
(cd "$work" && apt-get download "$package" 2>/dev/null) || {
    $sudo_cmd apt-get update -qq
    (cd "$work" && apt-get download "$package")
}
dpkg-deb -x "$work"/${package}_*.deb "$work/root"
mkdir -p "$target/$package"
cp "$work"/root/usr/share/scummvm/drascula/audio/*.ogg "$target/$package/"
cp "$work"/root/usr/share/doc/$package/copyright "$target/$package/COPYRIGHT"
version=$(dpkg-deb -f "$work"/${package}_*.deb Version)
{
    printf 'path\tpackage\tversion\tsoundtrack\tlicence\n'
    for f in "$target/$package"/*.ogg; do
        printf '%s\t%s\t%s\t%s\t%s\n' "$(basename "$f")" "$package" "$version" "Drascula" "Drascula-License (see COPYRIGHT)"
    done
} > "$target/$package/MANIFEST.tsv"
echo "fetched $(ls "$target/$package"/*.ogg | wc -l) tracks into $target/$package"
