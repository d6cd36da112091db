#!/usr/bin/env bash
# A screenshot of the TUI in a real sixel terminal (xterm -ti vt340 on a virtual X server), for the README.
# Usage: tools/screenshot/tui.sh [OUT.png] [extra tui arguments...]   (needs tools/setup.sh's xterm, xvfb, x11-apps, xdotool)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-assets/tui-sixel.png}
shift || true
bin=.build/release/scalewise
[ -x "$bin" ] || bin=.build/debug/scalewise
work=$(mktemp -d)
display=":$((60 + RANDOM % 30))"
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
xterm_pid=""
cleanup() { [ -z "$xterm_pid" ] || kill "$xterm_pid" 2>/dev/null || true; kill "$xvfb" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
export DISPLAY="$display"
xterm -ti vt340 -fa 'DejaVu Sans Mono' -fs 10 -bg '#101014' -fg '#d8d8d8' -geometry 120x40+0+0 -xrm 'XTerm*numColorRegisters: 1024' \
  -e env LANG=C.UTF-8 SCALEWISE_TUI_LOG="$work/tui.log" "$bin" tui --output-dir "$work" "$@" &
xterm_pid=$!
for _ in $(seq 600); do grep -q "graphics " "$work/tui.log" 2>/dev/null && break; sleep 0.1; done
window=$(xdotool search --sync --class xterm | head -1)
xdotool windowfocus --sync "$window"
xdotool key Return
for _ in $(seq 1200); do grep -q "scale lane=0 k=10 " "$work/tui.log" 2>/dev/null && break; sleep 0.1; done
sleep 1
xwd -id "$window" -silent | python3 tools/screenshot/xwd2png.py > "$out"
xdotool key q
echo "wrote $out ($(grep -o 'graphics [a-z]*' "$work/tui.log"))"
