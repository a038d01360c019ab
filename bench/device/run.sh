#!/usr/bin/env bash
# The project's GPU check, one command on the lent GPU machine (<= 10 minutes), writing JSON:
#   here:    bash bench/device/prep.sh                  (builds .device/: node, node_modules, vendor, dist)
#   device:  run(command: "bash bench/device/run.sh", carry: [".device"], timeout_s: 600)
#   here:    bash bench/device/run.sh --dry-run         (CPU: reuses this checkout's build; the CUDA
#                                                        build and CUDA-only checks are skipped, saying why)
# Steps: toolchain facts; CUDA build (GENIUS_CUDA=1, sm_90); the trainer tests on CUDA (CPU vs CUDA
# log-probs, losses, gradients and an AdamW step with GPU tolerances, finite differences, graph
# splits == 1, engine CPU vs CUDA scores) and the op-support and native-weight tests; the
# benchmarks (bench:train LoRA and full at the 1B shape, 4 pairs x 512, and its memory). Results:
# $OUT/results.json (steps, tests, benchmarks), steps.txt, env.txt, build.log, tests.tap, bench.log.
set -uo pipefail
DRY=0; [ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${OUT:-/tmp/genius-device}; mkdir -p "$OUT"; : > "$OUT/steps.jsonl"; : > "$OUT/steps.txt"
T0=$(date +%s)
el() { echo "[+$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/steps.txt"; }
# record STEP STATUS DETAIL: one JSON line per step (status ok | failed | skipped).
record() { STEP="$1" STATUS="$2" DETAIL="$3" SECONDS_="$(( $(date +%s) - T0 ))" node -e 'console.log(JSON.stringify({ step: process.env.STEP, status: process.env.STATUS, detail: process.env.DETAIL, atSeconds: Number(process.env.SECONDS_) }))' >> "$OUT/steps.jsonl"; }
left() { echo $(( 580 - ($(date +%s) - T0) )); }

el "unpack"
if [ $DRY -eq 1 ]; then
  command -v node >/dev/null || { echo "dry run needs node"; exit 1; }
  [ -f build/Release/genius.node ] && [ -d dist ] || { echo "dry run needs this checkout built (npm install; npx tsc)"; exit 1; }
else
  [ -s .device/node.xz ] || { echo ".device/ missing: run bench/device/prep.sh here and carry .device"; exit 1; }
  mkdir -p /tmp/node/bin && xz -dc .device/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
  export PATH=/tmp/node/bin:$PATH
  tar -xzf .device/node_modules.tgz && mkdir -p native/vendor && tar -xzf .device/vendor.tgz -C native/vendor && tar -xzf .device/dist.tgz
fi
record unpack ok "$(node --version)"

el "toolchain"
{ uname -m; nproc; node --version; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1; nvcc --version 2>&1 | tail -2; cmake --version 2>&1 | head -1; } > "$OUT/env.txt" 2>&1
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
record toolchain ok "gpu: ${GPU:-none}"

el "build"
if [ $DRY -eq 1 ]; then
  record build skipped "dry run: the CUDA build runs on the GPU machine only; this checkout's CPU build is reused"
else
  export GENIUS_CUDA=1 GENIUS_CUDA_ARCH=${GENIUS_CUDA_ARCH:-90} CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
  export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  TK=$(dirname "$(dirname "$(readlink -f "$CUDACXX")")")
  if [ ! -e "$TK/include/cublas_v2.h" ]; then  # pip-style toolkit: cuBLAS lives in the nvidia-cublas wheel
    W=$(python3 -c 'import nvidia.cublas as m; print(m.__path__[0])' 2>/dev/null)
    if [ -n "$W" ] && [ -e "$W/include/cublas_v2.h" ]; then
      mkdir -p /tmp/cublas/lib; for l in cublas cublasLt; do ln -sf "$(ls "$W"/lib/lib$l.so* | head -1)" /tmp/cublas/lib/lib$l.so; done
      export CMAKE_LIBRARY_PATH=/tmp/cublas/lib CUDAFLAGS="-I$W/include" CXXFLAGS="-I$W/include" LD_LIBRARY_PATH="$W/lib:${LD_LIBRARY_PATH:-}"
    fi
  fi
  ls "$TK"/lib64/stubs/libcuda.so "$TK"/lib/stubs/libcuda.so /usr/lib/x86_64-linux-gnu/libcuda.so 2>/dev/null | grep -q . || export npm_cmake_GGML_CUDA_NO_VMM=ON
  # Flash-attention kernels off: ~160 s less build; the engine then runs attention without FA.
  export npm_cmake_GGML_CUDA_FA=${GGML_CUDA_FA:-OFF}
  timeout 400 node scripts/build-native.mjs > "$OUT/build.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then record build failed "rc=$rc: $(tail -5 "$OUT/build.log" | tr '\n' ' ')"; else record build ok "GENIUS_CUDA=1 sm_$GENIUS_CUDA_ARCH"; fi
fi
[ -f "$OUT/build.log" ] || echo "dry run: no build" > "$OUT/build.log"

el "tests"
TESTS=${DEVICE_TESTS:-"dist/test/train/cuda.test.js dist/test/train/cuda-ops.test.js dist/test/train/native-weights.test.js"}
GENIUS_SHARED=${GENIUS_SHARED:-$PWD/shared} OMP_WAIT_POLICY=PASSIVE timeout $(( $(left) - 240 )) node node_modules/ava/entrypoints/cli.mjs --tap --timeout 5m $TESTS > "$OUT/tests.tap" 2>&1
rc=$?
node bench/device/tap-json.mjs < "$OUT/tests.tap" > "$OUT/tests.json"
record tests "$([ $rc -eq 0 ] && echo ok || echo failed)" "rc=$rc; $(node -p 'const r=require(process.argv[1]);`${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`' "$OUT/tests.json")"

el "benchmarks"
VOCAB=native/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf
if [ $DRY -eq 1 ]; then
  BACKEND=cpu; TRAIN="--shape tiny --pairs 1 --tokens 64 --prompt 8 --steps 1"; MEM="--shape tiny --pairs 1 --tokens 64 --prompt 8"
else
  BACKEND=cuda; TRAIN="--shape llama3.2-1b --dtype f16 --vocab $VOCAB --pairs 4 --tokens 512 --prompt 64 --steps 3"; MEM="--shape llama3.2-1b --dtype f16 --vocab $VOCAB --pairs 4 --tokens 512 --prompt 64"
fi
: > "$OUT/bench.log"
timeout $(( $(left) - 60 )) node dist/bench/train.js $TRAIN --rank 16 --modes lora,full --backend $BACKEND --json "$OUT/bench-train.json" >> "$OUT/bench.log" 2>&1
rc=$?; record bench-train "$([ $rc -eq 0 ] && echo ok || echo failed)" "rc=$rc, backend $BACKEND: $TRAIN"
timeout $(( $(left) - 10 )) node dist/bench/train.js $MEM --rank 16 --modes lora,full --base native,f32 --measure --backend $BACKEND --json "$OUT/bench-memory.json" >> "$OUT/bench.log" 2>&1
rc=$?; record bench-memory "$([ $rc -eq 0 ] && echo ok || echo failed)" "rc=$rc, backend $BACKEND, graph allocation only: $MEM"
record bench-engine skipped "the engine decode benchmark needs the peer llama-batched-bench built for CUDA (npm run build:bench-tools, ~3 more minutes): run it in a second device call"

el "results"
node -e '
const fs = require("fs"), out = process.argv[1], read = (f) => (fs.existsSync(`${out}/${f}`) ? JSON.parse(fs.readFileSync(`${out}/${f}`, "utf8")) : null);
const steps = fs.readFileSync(`${out}/steps.jsonl`, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
fs.writeFileSync(`${out}/results.json`, JSON.stringify({ dryRun: process.argv[2] === "1", date: new Date().toISOString(), steps, tests: read("tests.json"), benchTrain: read("bench-train.json"), benchMemory: read("bench-memory.json") }, null, 2));
for (const f of ["steps.jsonl", "tests.json", "bench-train.json", "bench-memory.json"]) fs.rmSync(`${out}/${f}`, { force: true });' "$OUT" "$DRY"
el "done"
cat "$OUT/steps.txt"
