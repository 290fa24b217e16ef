#!/usr/bin/env bash
# The quickstart's report travels: its folder copied with `cp -rL` and
# packed with `tar` opens in headless Chromium with every image drawn.
# Usage: .ci/report-in-chromium.sh REPORT_DIR   (e.g. configs/results/quickstart/report)
set -euo pipefail
src=${1:?usage: $0 REPORT_DIR}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "report-in-chromium: no chromium on PATH: install Debian's chromium" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -rL "$src" "$work/copied"
tar -C "$(dirname "$src")" -chf "$work/report.tar" "$(basename "$src")"
mkdir "$work/untarred" && tar -C "$work/untarred" -xf "$work/report.tar"
status=0
for dir in "$work/copied" "$work/untarred/$(basename "$src")"; do
  # A copy of report.html that reports, in its title, how many images it
  # has and how many were decoded and drawn.
  sed 's|</body>|<script>window.addEventListener("load",()=>{const i=[...document.images];document.title="images "+i.length+" drawn "+i.filter(x=>x.complete\&\&x.naturalWidth>0).length})</script></body>|' \
    "$dir/report.html" > "$dir/check.html"
  title=$("$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --virtual-time-budget=10000 --dump-dom "file://$dir/check.html" 2>/dev/null |
    grep -o '<title>images [0-9]* drawn [0-9]*</title>' || true)
  read -r n drawn < <(echo "$title" | sed -E 's|<title>images ([0-9]+) drawn ([0-9]+)</title>|\1 \2|')
  if [ -z "$title" ] || [ "${n:-0}" -eq 0 ] || [ "$n" -ne "$drawn" ]; then
    echo "report-in-chromium: $dir/report.html: ${title:-no result from Chromium}" >&2
    status=1
  else
    echo "report-in-chromium: ${dir#$work/}/report.html: all $n images drawn"
  fi
done
exit $status
