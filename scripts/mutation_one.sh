#!/bin/bash
# Mutation-test some modules against a few fast test files, in a scratch copy of the
# checkout (the [tool.mutmut] section of the copy is rewritten; the checkout is untouched).
#
#   scripts/mutation_one.sh NAME "src/candlecast/a.py src/candlecast/b.py" "tests/unit/test_a.py"
#
# Results: /tmp/mutation/NAME/results.txt (one line per mutant: killed, survived, no tests);
# `cd /tmp/mutation/NAME && ../../<checkout>/.venv/bin/mutmut show MUTANT` shows a diff.
# KIDS=1 runs one mutant at a time (default 2).
set -euo pipefail
NAME=$1; FILES=$2; TESTS=$3; KIDS=${KIDS:-2}
ROOT=$(git rev-parse --show-toplevel)
VENV=$ROOT/.venv
D=/tmp/mutation/$NAME
# mutmut is the `mutation` extra, which `make install` leaves out (as `make mutation` does, install it)
[ -x "$VENV/bin/mutmut" ] || "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev,mutation]"
rm -rf "$D"; mkdir -p "$D"
cd "$ROOT"
git ls-files -co --exclude-standard | grep -v '^mutants/' | tar cf - -T - | (cd "$D" && tar xf -)
# the built C module too (git ignores it), so the code that calls it is mutated and tested
find src -name '*.so' | tar cf - -T - | (cd "$D" && tar xf -)
cd "$D"
"$VENV/bin/python" - "$FILES" "$TESTS" <<'PY'
import sys
files, tests = sys.argv[1].split(), sys.argv[2].split()
text = open("pyproject.toml").read()
start = text.index("[tool.mutmut]")
end = text.index("\n[", start + 1)
q = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"
section = f"""[tool.mutmut]
source_paths = ["src/"]
only_mutate = {q(files)}
also_copy = ["examples/", "setup.py", "README.md", "tests/"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not slow"]
pytest_add_cli_args_test_selection = {q(tests)}
"""
open("pyproject.toml", "w").write(text[:start] + section + text[end:])
PY
export CANDLECAST_VECTORS=${CANDLECAST_VECTORS:-$(dirname "$ROOT")/shared/vectors/freqtrade-2026.9}
CANDLECAST_FUZZ_EXAMPLES=50 "$VENV/bin/mutmut" run --max-children "$KIDS" > run.log 2>&1 || true
"$VENV/bin/mutmut" results --all true > results.txt
for state in killed survived "no tests" timeout suspicious; do
    echo "$state: $(grep -c ": $state" results.txt || true)"
done
