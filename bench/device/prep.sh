#!/usr/bin/env bash
# Builds .device/, what bench/device/run.sh needs on the GPU machine that the working tree does
# not carry (about 40 MB): Node.js (the device has none), the node_modules closure of ava and
# cmake-js, the vendored llama.cpp with its stamp (vendoring is then a no-op), dist/ and the
# Llama 3 vocab. Run from the repo root after `npm install` and `npx tsc -p tsconfig.json`.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
D=.device; mkdir -p "$D"
grep -qx '/.device/' "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null || echo '/.device/' >> "$(git rev-parse --git-common-dir)/info/exclude"
[ -s "$D/node.xz" ] && [ "$D/node.xz" -nt "$(command -v node)" ] || xz -T2 -6 -c "$(command -v node)" > "$D/node.xz"
node -e '
const fs = require("fs"), p = require("path"); const seen = new Set();
const walk = (n) => { const q = p.join("node_modules", n); if (seen.has(q) || !fs.existsSync(q)) return; seen.add(q);
  const j = JSON.parse(fs.readFileSync(p.join(q, "package.json"))); for (const k of Object.keys(j.dependencies || {})) walk(k); };
for (const n of ["ava", "cmake-js", "node-addon-api", "zod", "yaml", "commander", "cli-progress"]) walk(n);
console.log([...seen].join("\n"));' | tar -czf "$D/node_modules.tgz" -T -
(cd native/vendor && tar -czf "$root/$D/vendor.tgz" llama.cpp/CMakeLists.txt llama.cpp/cmake llama.cpp/ggml llama.cpp/src llama.cpp/include \
  llama.cpp/vendor llama.cpp/common llama.cpp/tools llama.cpp/licenses llama.cpp/LICENSE llama.cpp/.genius-stamp.json \
  llama.cpp/models/ggml-vocab-llama-bpe.gguf)
tar -czf "$D/dist.tgz" dist
du -sh "$D"; ls -la "$D"
