#!/usr/bin/env bash
# Installs the Debian packages the mail lab and the mail tests use (Dovecot IMAP + LMTP), if missing.
# Runs as root on the CI and developer machines; without root or apt it says so and the mail lab
# falls back to its pure-Python IMAP server.
set -euo pipefail
missing=()
for pkg in dovecot-imapd dovecot-lmtpd; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: cannot install ${missing[*]} (need root and apt-get); the mail lab will fall back to pymap" >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged service is not wanted: the mail lab starts its own Dovecot with a generated config.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now dovecot >/dev/null 2>&1 || true; fi
service dovecot stop >/dev/null 2>&1 || true
