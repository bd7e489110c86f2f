#!/usr/bin/env bash
# The README's first Quick start command, verbatim, in a fresh venv from a clean clone: its install
# part (`pip install ".[lab]"`), then the demo executed with `jupyter nbconvert --execute`. The model
# fetch is replaced by the tiny test models (CI never downloads weights).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
QS=$(mktemp -d)
trap 'rm -rf "$QS"' EXIT
git clone -q . "$QS/repo"
python -m venv "$QS/venv"
(cd "$QS/repo" && PATH="$QS/venv/bin:$PATH" pip install -q --disable-pip-version-check ".[lab]")
python -c "import sys; sys.path.insert(0, 'tests'); from tiny_models import build_tiny_models; build_tiny_models('$QS/models')"
cd "$QS/repo"
VECTORVISION_MODELS="$QS/models" PATH="$QS/venv/bin:$PATH" \
  jupyter nbconvert --to notebook --execute demo.ipynb --output "$QS/demo-run.ipynb" \
  --ExecutePreprocessor.timeout=600
test -f "$QS/repo/vectorvision-demo/library.json"
PATH="$QS/venv/bin:$PATH" jupyter notebook --version   # the Quick start also offers Notebook 7
echo "quick start: fresh venv install + demo executed in $((SECONDS - T0)) s"
