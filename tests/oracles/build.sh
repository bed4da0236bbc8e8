#!/usr/bin/env bash
# Builds the tools' own readers, each in a venv of its own under .oracles/, from a Python 3.12
# (openhands-ai and openhands-sdk need it): $PYTHON312, else python3.12, else one under ~/.pyenv.
# A judge that cannot be built is left out with its log; the tests that need it skip and say why.
set -u
cd "$(dirname "$0")/../.."
dest=.oracles
mkdir -p "$dest"

find_python() {
  for candidate in "${PYTHON312:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

python=$(find_python) || {
  echo "oracles: no Python 3.12 found (set PYTHON312); the judge tests will skip" | tee "$dest/NO_PYTHON312"
  exit 0
}
rm -f "$dest/NO_PYTHON312"

# name: the pip steps, each a requirements file installed in order (a "--no-deps" prefix keeps a
# package from pulling in what would downgrade another: openhands-tools vs openhands-sdk).
build() {
  local name=$1; shift
  local venv="$dest/$name" log="$dest/$name.log" stamp="$dest/$name/.built"
  local want
  want=$(cat "$@" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "oracles: $name is built"
    return 0
  fi
  echo "oracles: building $name (log: $log)"
  rm -rf "$venv"
  {
    "$python" -m venv "$venv" &&
      "$venv/bin/python" -m pip install --quiet --upgrade pip &&
      for req in "$@"; do
        if head -n1 "$req" | grep -q -- '--no-deps'; then
          "$venv/bin/python" -m pip install --quiet --no-deps -r "$req" || exit 1
        else
          "$venv/bin/python" -m pip install --quiet -r "$req" || exit 1
        fi
      done
  } >"$log" 2>&1 && echo "$want" >"$stamp" || {
    echo "oracles: $name could not be built; see $log (its tests will skip)"
    rm -f "$stamp"
  }
}

build openhands-v0 tests/oracles/openhands-v0.txt
build openhands-v1 tests/oracles/openhands-v1.txt tests/oracles/openhands-v1-tools.txt
build claude-code-log tests/oracles/claude-code-log.txt
exit 0
