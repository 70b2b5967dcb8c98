#!/usr/bin/env bash
# Packs PyPI's libnvrtc (13.0.x) into .gpu-carry/nvrtc.tar.xz so a device run can carry it
# (`carry: [".gpu-carry"]`) when the lent machine has no CUDA toolkit of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-ci
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check nvidia-cuda-nvrtc==13.0.88
lib=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
mkdir -p .gpu-carry
tar -cJf .gpu-carry/nvrtc.tar.xz -C "$lib" libnvrtc.so.13 libnvrtc-builtins.so.13.0
ls -l .gpu-carry/nvrtc.tar.xz
