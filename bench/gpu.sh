#!/usr/bin/env bash
# The GPU benchmark (bench/gpu.py) as one command on a GPU machine that has torch, transformers, peft and
# accelerate but not trl or datasets, and no network (docs/GPU.md, "The one-command GPU benchmark"):
#
#   bench/gpu.sh OUT_DIR [more bench/gpu.py flags, e.g. --finetune full, --smoke; not --out_dir]
#
# From a checkout whose .whl/ folder (git-ignored) holds the wheels docs/GPU.md says how to download, it installs
# them into /tmp/site-packages, runs bench/gpu.py with tracegym from src/ (the run goes to bench/out/gpu), tees the log,
# and copies into OUT_DIR: gpu.json (the figures), gpu.log (everything printed), and each evaluation's
# report-<full|lora>.md. The exit status is bench/gpu.py's (2 with one `error:` line for a user error).
set -uo pipefail

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "error: usage: bench/gpu.sh OUT_DIR [bench/gpu.py flags]; give the folder the figures and log go to" >&2
  exit 2
fi
out_dir=$1
shift
python=${PYTHON:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
run_dir=$repo/bench/out/gpu
log=$repo/bench/out/gpu.log  # beside the run dir, which bench/gpu.py empties when it starts

shopt -s nullglob
wheels=("$repo"/.whl/*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
  echo "error: no wheels in $repo/.whl: download them on a machine with network first (docs/GPU.md)" >&2
  exit 2
fi
# The folder's name must hold "site-packages": dill (datasets' fingerprints) pickles a module from any other folder
# by value, and pyarrow's MonthDayNano then fails to pickle (`datasets.Dataset.from_list` raises PicklingError).
site=/tmp/site-packages
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
  "${wheels[@]}" || exit
export PYTHONPATH=$site:$repo/src
export PYTHONUNBUFFERED=1

mkdir -p "$out_dir" "$repo/bench/out" || exit
(cd "$repo" && "$python" bench/gpu.py --out_dir "$run_dir" "$@") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
cp "$log" "$out_dir/gpu.log"
if [ -f "$run_dir/gpu.json" ]; then
  cp "$run_dir/gpu.json" "$out_dir/gpu.json"
fi
for finetune in full lora; do
  if [ -f "$run_dir/eval-$finetune/report.md" ]; then
    cp "$run_dir/eval-$finetune/report.md" "$out_dir/report-$finetune.md"
  fi
done
exit "$status"
