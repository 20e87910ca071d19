"""Every mutation of tools/mutations.py, learning-level ones included: each breaks a feature
in a copy of the committed tree, and the tests named for it must then fail.

  python bench/mutations.py                 # the whole set (about 10 minutes on 2 cores)
  python bench/mutations.py -k sweep        # only the mutations whose name contains "sweep"

``make test`` runs the unit-level subset (tests/test_mutations.py); this bench adds the
learning-level mutations, whose tests train networks for a few hundred steps. It first runs
every named test on the unmutated tree (they must pass), then each mutation; the results
page lists each mutation with the tests that caught it. Exits 1 if any survived.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import common
from tools import mutations

TITLE = "Mutation testing: each guarded feature broken on purpose, and the tests that caught it"


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    args = parser.parse_args()
    print(common.machine_line())
    chosen = tuple(m for m in mutations.MUTATIONS if args.k.lower() in m.name.lower())
    with tempfile.TemporaryDirectory(prefix="gankit-mutations-") as tmp:
        tree = Path(tmp)
        mutations.copy_tree(tree)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        failed, seconds, summary = mutations.run_tests(tree, tests)
        print(f"unmutated: {summary} ({seconds:.0f} s)")
        if failed:
            print(f"these tests fail before any mutation: {sorted(failed)}")
            return 1
        print(mutations.HEADER)
        results = mutations.check(chosen, tree, echo=lambda line: print(line, flush=True))
    caught = sum(r.caught for r in results)
    units = sum(r.mutation.unit for r in results)
    print(f"{caught} of {len(results)} mutations caught")
    rows = [[r.mutation.name, f"`{r.mutation.path}`",
             "<br>".join(f"`{test}`" for test in r.mutation.tests),
             "caught" if r.caught else f"SURVIVED ({r.failed} of {len(r.mutation.tests)})",
             "unit" if r.mutation.unit else "learning", f"{r.seconds:.0f}"] for r in results]
    markdown = (f"{caught} of {len(results)} mutations caught ({units} unit-level, run by "
                f"`make test` too; {len(results) - units} learning-level). A mutation is "
                "caught when every test named for it fails on the mutated code; the named "
                f"tests all pass unmutated ({summary}).\n\n"
                + common.table(["mutation", "file", "tests that must fail", "verdict",
                                "level", "seconds"], rows))
    figures = {"caught": caught, "mutations": len(results),
               "results": [{"name": r.mutation.name, "path": r.mutation.path,
                            "tests": list(r.mutation.tests), "failed": r.failed,
                            "caught": r.caught, "unit": r.mutation.unit,
                            "seconds": round(r.seconds, 1)} for r in results]}
    common.write_results("mutations", TITLE, figures, markdown, args=args,
                         section=common.changed(parser, args, {"k"}),
                         headline=f"{caught} of {len(results)} mutations caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
