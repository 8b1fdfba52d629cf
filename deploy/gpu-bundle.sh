#!/usr/bin/env bash
# Builds the GPU bundle: a trimmed, self-contained `alpa` for linux-x64 (no .NET needed on the
# target) plus run-gpu.sh, which on a Linux x86-64 GPU machine runs the CUDA self-test, the GPU
# benchmarks and a gpt-tiny training run and writes every result into one folder.
#
#   deploy/gpu-bundle.sh [OUT_DIR]        (default: .build/gpu-bundle)
#
# Produces OUT_DIR/alpa-gpu/ and OUT_DIR/alpa-gpu-linux-x64.tar.gz. Copy the tarball to the GPU
# machine, then: tar xzf alpa-gpu-linux-x64.tar.gz && alpa-gpu/run-gpu.sh [RESULTS_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/.build/gpu-bundle}" && cd "${1:-$root/.build/gpu-bundle}" && pwd)"
stage="$out/alpa-gpu"
limit_mb=60

command -v dotnet >/dev/null || { echo "gpu-bundle: the .NET 10 SDK is needed to build the bundle" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Trimming roots (DESIGN §2): System.Security.Cryptography is reached through reflection by the
# hosting layer. The items go in through MSBuild's CustomAfterMicrosoftCommonTargets hook so that
# the project files stay free of publish-only settings.
targets="$(mktemp -d)/alpa-trim.targets"
cat > "$targets" <<'XML'
<Project>
  <ItemGroup Condition="'$(PublishTrimmed)' == 'true'">
    <TrimmerRootAssembly Include="System.Security.Cryptography" />
  </ItemGroup>
</Project>
XML

rm -rf "$stage"
echo "gpu-bundle: publishing alpa (linux-x64, self-contained, trimmed)…" >&2
dotnet publish "$root/Alpa.Silo/Alpa.Silo.csproj" -c Release -r linux-x64 --self-contained true \
  -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true \
  -p:TreatWarningsAsErrors=false -p:InvariantGlobalization=true -p:DebugType=none -p:GenerateDocumentationFile=false \
  -p:CustomAfterMicrosoftCommonTargets="$targets" \
  -o "$stage" --nologo -v q >&2
rm -rf "$(dirname "$targets")"

cp "$root/deploy/gpu-bundle.sh" "$stage/BUILT-BY-gpu-bundle.sh"
cat > "$stage/run-gpu.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on a Linux x86-64 machine with an NVIDIA GPU and driver; needs no .NET.
#   run-gpu.sh [RESULTS_DIR]   (default: ./alpa-gpu-results-<host>-<date>)
# CUDA libraries: libcuda.so.1 (driver), libnvrtc.so.12, libcublas.so.12, libnccl.so.2 found by
# the loader, or ALPA_LIBCUDA / ALPA_LIBNVRTC / ALPA_LIBCUBLAS / ALPA_LIBNCCL set to their paths.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results="${1:-$PWD/alpa-gpu-results-$(hostname -s)-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$results"
alpa="$here/alpa"
status=0

# CUDA libraries installed by pip wheels (nvidia-*-cu12) are not on the loader path by default.
for d in /usr/local/cuda/lib64 /usr/local/lib/python3*/dist-packages/nvidia/*/lib "$HOME"/.local/lib/python3*/site-packages/nvidia/*/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
# The CPU paths (training on the CPU executor, the ILP planner) load OpenBLAS and CBC.
if ! grep -q 'libopenblas\.so\.0 ' <(ldconfig -p 2>/dev/null); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas0 coinor-libcbc3 >/dev/null 2>&1 \
      || echo "run-gpu: could not install libopenblas0/coinor-libcbc3; CPU steps may fail" >&2
  else
    echo "run-gpu: libopenblas.so.0 missing (sudo apt-get install libopenblas0 coinor-libcbc3); CPU steps may fail" >&2
  fi
fi
grep -q -m1 avx512f /proc/cpuinfo 2>/dev/null && export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}"
# A 64 MB first GC generation (as ./alpa sets): training steps are not interrupted by collections.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x4000000}"

run() {  # run NAME COMMAND...: stdout to NAME.json (or .txt), stderr to NAME.log, exit code recorded
  local name="$1"; shift
  echo "run-gpu: $name: $*" >&2
  local start=$SECONDS
  "$@" > "$results/$name.out" 2> "$results/$name.log"
  local rc=$?
  echo "$name $rc $((SECONDS - start))s" >> "$results/exit-codes.txt"
  [ $rc -eq 0 ] || { status=1; echo "run-gpu: $name failed (exit $rc), see $results/$name.log" >&2; }
}

{
  echo "host: $(hostname)"; echo "date: $(date -u +%FT%TZ)"; uname -a
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
} > "$results/machine.txt" 2>&1

run selftest-cuda "$alpa" selftest --backend cuda --bench --json
run selftest-cpu  "$alpa" selftest --backend cpu --json
run train-gpt-tiny "$alpa" train --model gpt-tiny --steps 50 --json
for f in "$results"/*.out; do mv "$f" "${f%.out}.json"; done
echo "run-gpu: results in $results" >&2
exit $status
RUN
chmod +x "$stage/run-gpu.sh"

size_mb=$(( $(du -sk "$stage" | cut -f1) / 1024 ))
tar -C "$out" -czf "$out/alpa-gpu-linux-x64.tar.gz" alpa-gpu
tar_mb=$(( $(stat -c %s "$out/alpa-gpu-linux-x64.tar.gz") / 1048576 ))
echo "gpu-bundle: $stage ($size_mb MB), $out/alpa-gpu-linux-x64.tar.gz ($tar_mb MB)" >&2
if [ "$size_mb" -ge "$limit_mb" ]; then
  echo "gpu-bundle: the bundle is $size_mb MB, over the $limit_mb MB budget" >&2
  exit 1
fi
