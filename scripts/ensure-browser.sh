#!/usr/bin/env bash
# Makes sure the browser tests have a Chromium: Debian's package at /usr/bin/chromium, never a
# downloaded build. When it is already there, does nothing. Otherwise it says so and installs the
# `chromium` package with apt-get, which needs a Debian-like system with apt and root (it uses sudo
# when not run as root). Exits non-zero, with a message, when it cannot.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "ensure-browser: /usr/bin/chromium is installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "ensure-browser: /usr/bin/chromium is missing and there is no apt-get; install Chromium from your system's packages" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "ensure-browser: installing Chromium needs root (run as root or install sudo)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "ensure-browser: installing Debian's chromium package with apt-get (needs root)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "ensure-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
