"""Mutation testing in the suite: each unit-level mutation of ``tools/mutations.py`` breaks a
feature in a copy of this tree, and the tests named for it must then fail. A mutation that
survives means a test that cannot fail on what it names. (The learning-level mutations take
minutes each: ``python bench/mutations.py`` runs the whole set and writes its results page.)
"""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_every_unit_level_mutation_is_caught(tmp_path, load_tool):
    mutations = load_tool("mutations")
    chosen = mutations.unit_mutations()
    assert len(chosen) >= 15
    mutations.copy_tree(tmp_path, committed=False)  # this tree, uncommitted changes included
    results = mutations.check(chosen, tmp_path)
    survived = [mutations.row(r) for r in results if not r.caught]
    assert not survived, "mutations no test caught:\n" + "\n".join(survived)


def test_a_mutation_that_no_test_notices_survives(tmp_path, load_tool):
    """The check itself can fail: a mutation whose test passes on the mutated code is
    reported as surviving, and one whose code is gone stops the check."""
    mutations = load_tool("mutations")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "value.py").write_text("VALUE = 1\n")
    (tmp_path / "test_value.py").write_text(
        "import sys; sys.path.insert(0, __file__.rsplit('/', 1)[0])\n"
        "from pkg.value import VALUE\n"
        "def test_positive():\n    assert VALUE > 0\n")
    harmless = mutations.Mutation("VALUE 2", "pkg/value.py", "VALUE = 1", "VALUE = 2",
                                  ("test_value.py::test_positive",))
    harmful = mutations.Mutation("VALUE -1", "pkg/value.py", "VALUE = 1", "VALUE = -1",
                                 ("test_value.py::test_positive",))
    survived, caught = mutations.check((harmless, harmful), tmp_path)
    assert not survived.caught and caught.caught
    assert (tmp_path / "pkg" / "value.py").read_text() == "VALUE = 1\n"  # restored
    with pytest.raises(SystemExit, match="occurs 0 times"):
        mutations.check((mutations.Mutation("gone", "pkg/value.py", "VALUE = 3", "", ()),),
                        tmp_path)
