#!/usr/bin/env python3
"""leaks.py ROOT -- the files under ROOT (a handout) that hold a solution.

A solution's distinctive lines are those of solutions/ID/FILE that its
skeleton, ROOT/exercises/ID/FILE (as the handout has it), lacks: trimmed,
16 characters or more (shorter ones such as "}" or "return 0;" say
nothing, nor do #include lines). A file under ROOT holds the solution
when it is a copy of it, or carries 3 or more of those lines in a row
(shorter lines between them are skipped over), or a third or more of all
of them (and at least 3). Chapter files are checked like every other
file: an answer must not hide in a chapter either. A directory of
solutions/ that belongs to no exercise (a reference program built from
the chapters' code) leaks only as a copy of one of its files.
Prints one line per finding; exits 1 if there is any, 0 if none.

leaks.py --sample SOLUTION ROOT prints 3 distinctive lines of SOLUTION (a
path under solutions/), for the handout to plant and see caught.
"""
import hashlib
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_LEN, MIN_RUN = 16, 3


def lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.strip() for line in f]
    except (IsADirectoryError, FileNotFoundError):
        return []


def telling(line):
    """A line that can give an answer away."""
    return len(line) >= MIN_LEN and not line.startswith("#include")


def solutions(root):
    """(name, sha256, distinctive lines) of every solution file."""
    soldir = os.path.join(TOP, "solutions")
    for ex in sorted(os.listdir(soldir)):
        exdir = os.path.join(soldir, ex)
        if not os.path.isdir(exdir):
            continue
        for name in sorted(os.listdir(exdir)):
            path = os.path.join(exdir, name)
            if not os.path.isfile(path):
                continue  # wrong/: patches against the solution
            # A reference program with no exercise (it is built from the
            # chapters' code) can only leak as a copy.
            distinct = set()
            if os.path.isfile(os.path.join(root, "exercises", ex, "META")):
                skel = set(lines(os.path.join(root, "exercises", ex, name)))
                mine = [l for l in lines(path) if telling(l)]
                distinct = set(l for l in mine if l not in skel)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            yield f"solutions/{ex}/{name}", digest, distinct


def findings(path, rel, sols):
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    text = [l for l in lines(path) if telling(l)]
    for name, sol_digest, distinct in sols:
        if digest == sol_digest:
            yield f"{rel}: a copy of {name}"
            continue
        if len(distinct) < MIN_RUN:
            continue
        run = best = 0
        for line in text:
            run = run + 1 if line in distinct else 0
            best = max(best, run)
        hits = len(distinct.intersection(text))
        if best >= MIN_RUN or (hits >= MIN_RUN and 3 * hits >= len(distinct)):
            yield (f"{rel}: {hits} of the {len(distinct)} lines that set "
                   f"{name} apart from its skeleton ({best} in a row)")


def sample(path, root):
    rel = os.path.relpath(os.path.abspath(path), TOP)
    for name, _, distinct in solutions(root):
        if name == rel:
            picked = [l for l in lines(path) if l in distinct][:MIN_RUN]
            print("\n".join(picked))
            return 0 if len(picked) == MIN_RUN else 1
    return 1


def main():
    if sys.argv[1] == "--sample":
        return sample(sys.argv[2], sys.argv[3])
    root = sys.argv[1]
    sols = list(solutions(root))
    found = False
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            for line in findings(path, os.path.relpath(path, root), sols):
                print("  " + line)
                found = True
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
