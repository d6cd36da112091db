#!/usr/bin/env bash
# Installs the Debian packages Scalewise builds and tests against, only those missing (sudo when not root).
set -euo pipefail
need=()
# qemu-user: the tests that run the binary on an emulated CPU without AVX and the C kernels on an emulated arm64
# (built with libc6-dev-arm64-cross and libgcc-12-dev-arm64-cross). xterm, xvfb, x11-apps (xwd) and xdotool: the
# test that screenshots sixel pictures in a real xterm.
for p in libncursesw5-dev libopenblas-dev libdnnl-dev libpng-dev libssl-dev ncurses-term tmux qemu-user libc6-dev-arm64-cross \
         libgcc-12-dev-arm64-cross xterm xvfb x11-apps xdotool; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "scalewise setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
