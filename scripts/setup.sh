#!/usr/bin/env bash
# Create .venv and install genai-tui into it (editable), with the extras named in $1
# (comma-separated, default "demo"). Safe to re-run: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-demo}"
python="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

# torch first, pinned: an unpinned torch resolves to a multi-GB CUDA build on Linux.
# On a GPU box that is what you want: set GENAI_TUI_TORCH to e.g. "torch" or a
# CUDA-index spec. CPU-only elsewhere: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
"${pip[@]}" install -q "${GENAI_TUI_TORCH:-torch==2.13.0}"

# llama-cpp-python compiles llama.cpp from source. The portable CPU flags below avoid
# the AMX kernels that crash on VMs that advertise but do not enable AMX.
# On an NVIDIA box: CMAKE_ARGS="-DGGML_CUDA=on" bash scripts/setup.sh
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
"${pip[@]}" install -q -e ".[${extras}]"
echo "genai-tui installed in $(pwd)/.venv  (run: .venv/bin/genai-tui)"
