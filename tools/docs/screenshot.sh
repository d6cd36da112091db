#!/bin/bash
# The README's screenshot: the TUI on the default model in a 120×36 tmux pane, run to the last scale, captured as
# text with its colours and rendered to assets/tui.png.
#   bash tools/docs/screenshot.sh [BINARY] [CLASS]
set -euo pipefail
BIN=${1:-.build/release/scalewise}
CLASS=${2:-g}
SOCK=scalewise-shot-$$
DIR=$(mktemp -d)
t() { tmux -L "$SOCK" "$@"; }
t -f /dev/null new-session -d -x 120 -y 36 \
    "env LANG=C.UTF-8 TERM=tmux-256color COLORTERM=truecolor HOME=$DIR $BIN --output-dir $DIR --symbols half"
trap 't kill-server 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do t capture-pane -p | grep -q ready && break; sleep 0.2; done
t send-keys /; t send-keys -l "$CLASS"; t send-keys Enter
t send-keys Enter
for _ in $(seq 300); do t capture-pane -p | grep -q "scale 10/10" && break; sleep 0.2; done
sleep 1
t capture-pane -e -p > "$DIR/pane.txt"
python3 tools/docs/render_pane.py "$DIR/pane.txt" assets/tui.png --cols 120 --rows 36
echo "wrote assets/tui.png"
