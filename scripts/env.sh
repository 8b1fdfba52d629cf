# Sourced by ./alpa and scripts/test.sh: installs the native libraries the project loads and
# exports what they read when they load. Safe to source repeatedly.

alpa_missing_debs() {
  # grep reads a process substitution, not a pipe: under pipefail, grep -q exiting early would fail ldconfig with SIGPIPE.
  local missing=()
  grep -q 'libopenblas\.so\.0 ' <(ldconfig -p 2>/dev/null) || missing+=(libopenblas0)
  grep -q 'libCbcSolver\.so\.3 ' <(ldconfig -p 2>/dev/null) || missing+=(coinor-libcbc3)
  echo "${missing[@]:-}"
}

# alpa_install_debs PKG...: installs Debian packages when run as root, else prints the command.
alpa_install_debs() {
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "alpa: installing $* (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || return 1
    apt-get install -y -qq --no-install-recommends "$@" >&2 || return 1
  else
    echo "alpa: missing native packages; run: sudo apt-get install -y $*" >&2
    return 1
  fi
}

alpa_native_deps() {
  # shellcheck disable=SC2046
  alpa_install_debs $(alpa_missing_debs)
}

alpa_export_env() {
  # OpenBLAS picks its kernels when the library loads; on Unix, Environment.SetEnvironmentVariable
  # does not reach native getenv, so the choice is made here (DESIGN §2: SkylakeX ≈ 2× Haswell).
  if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q -m1 'avx512f' /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=SkylakeX
  fi
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  # A 64 MB first GC generation: a training step allocates a few MB of bookkeeping, and with the default
  # budget (a few MB) each step paid one or two collections that stopped every stage (gpt-tiny, two
  # stages: 15.8 → 12.3 ms per step; bench/results/pipeline-analysis.md). The runtime reads it only from
  # the environment, so the launchers set it (./alpa, scripts/test.sh, deploy/config/alpa.env).
  export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x4000000}"
}

alpa_check_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "alpa: the .NET 10 SDK is required (https://dot.net); install it and re-run" >&2
    return 1
  fi
}
