#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the reference export files in crates/gaen/testdata.
# Run from anywhere; needs only sh, cp, unzip (optional: without it only export_zip is seeded).
# The corpus directories are gitignored: never commit them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
testdata="$here/../crates/gaen/testdata"
corpus="$here/corpus"
mkdir -p "$corpus/export_zip" "$corpus/export_bin" "$corpus/signature_list" "$corpus/advertisement"
for zip in "$testdata"/*.zip; do
    name=$(basename "$zip" .zip)
    rm -f "$corpus/export_zip/$name.zip"
    cp "$zip" "$corpus/export_zip/$name.zip"
    chmod 644 "$corpus/export_zip/$name.zip"
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$zip" export.bin > "$corpus/export_bin/$name.bin"
        unzip -p "$zip" export.sig > "$corpus/signature_list/$name.sig"
    fi
done
# One valid advertisement: flags 0x1A, UUID list 0xFD6F, service data (RPI 00..0f, AEM a0..a3).
printf '\002\001\032\003\003\157\375\027\026\157\375\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\240\241\242\243' \
    > "$corpus/advertisement/sample.adv"
echo "seeded:"; for d in "$corpus"/*; do echo "  $(basename "$d"): $(ls "$d" | wc -l) file(s)"; done
