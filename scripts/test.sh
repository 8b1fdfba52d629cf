#!/usr/bin/env bash
# The project's test command (README): installs and starts what the tests need, then runs every
# test once. Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~Intra).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=env.sh
. "$root/scripts/env.sh"
alpa_check_dotnet || exit 1
alpa_native_deps || exit 1
alpa_export_env
# Tools of the deploy tests (Alpa.Tests/Deploy); those tests skip with a reason when a tool is missing.
deploy_tools=()
command -v shellcheck >/dev/null || deploy_tools+=(shellcheck)
command -v systemd-analyze >/dev/null || deploy_tools+=(systemd)
command -v ip >/dev/null || deploy_tools+=(iproute2)
command -v openssl >/dev/null || deploy_tools+=(openssl)
command -v cloud-init >/dev/null || deploy_tools+=(cloud-init)
alpa_install_debs "${deploy_tools[@]}" || echo "scripts/test.sh: could not install ${deploy_tools[*]}; deploy tests needing them will skip" >&2
cd "$root"
# PostgreSQL for the membership tests (installed and started here; its tests skip with a reason if it cannot be).
# shellcheck source=postgres.sh
. "$root/scripts/postgres.sh" || echo "scripts/test.sh: PostgreSQL unavailable; its tests will skip" >&2
mkdir -p .build
log=.build/test.log
dotnet test Alpa.sln -c Release --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# One plain closing line over all test assemblies: "tests: N passed, N failed, N skipped".
grep -E '^(Passed|Failed)!' "$log" | awk '
  { for (i = 1; i <= NF; i++) {
      v = $(i+1); gsub(/[^0-9]/, "", v);
      if ($i == "Failed:") f += v; if ($i == "Passed:") p += v; if ($i == "Skipped:") s += v } }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }'
exit "$status"
