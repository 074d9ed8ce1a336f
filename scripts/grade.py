#!/usr/bin/env python3
"""grade.py -- score submissions with the instructor's tests.

    grade.py grade [--submission DIR|TARBALL] [--student NAME] [--out DIR]
    grade.py grade-all --out DIR SUBMISSIONS

A submission is a copy of the course tree (a directory or a tarball of
one). Only the learner's files, those META's `files` names, are taken
from it; META, the tests, the Makefiles, common/ and the chapters come
from this tree, so editing a test or META in a submission changes no
grade. Other files the submission changed are listed in the report,
never used. Each Check test case earns the points META gives it when all
its tests pass.

grade writes DIR/grade.json, grade.tap and grade.txt and exits 0 when
every point was earned, 1 when some were lost, 2 when the submission
cannot be read. grade-all grades every directory and tarball in
SUBMISSIONS into DIR/<student>/ and writes DIR/roster.csv and
DIR/roster.json, a row per student; a submission that does not build
scores zero with the reason and the others go on. It exits 0 once the
roster is written, 2 if it cannot be.
"""
import argparse
import csv
import datetime
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAKE = os.environ.get("MAKE", "make")
# Never taken from a submission, never reported as changed.
SKIP_DIRS = {".git", ".proof", ".backup", ".check-results", "grade"}
BUILD_JUNK = re.compile(r"\.(o|d|a|su)$|(^|/)\.build-flags$|"
                        r"(^|/)tests/(runner|suites\.inc|badecho)$")
TAP_LINE = re.compile(r"^(not )?ok \d+ - ([^:]*):([^:]*):([^:]*): ?(.*)$")
TEST_TIMEOUT = 900  # seconds for one exercise's build and tests


class Unreadable(Exception):
    """The submission cannot be graded at all."""


# --- the instructor's tree --------------------------------------------------
def meta(ex):
    """META of exercise ex as a dict; case and hint lines as lists."""
    m = {"case": [], "guard": []}
    with open(os.path.join(TOP, "exercises", ex, "META")) as f:
        for line in f:
            parts = line.split(None, 1)
            if not parts or parts[0].startswith("#"):
                continue
            key, rest = parts[0], parts[1].strip() if len(parts) > 1 else ""
            if key == "case":
                name, points = rest.split()
                m["case"].append((name, int(points)))
            elif key in ("guard",):
                m[key].append(rest)
            else:
                m.setdefault(key, rest)
    return m


def exercises():
    """Exercise ids in course order."""
    ids = [d for d in os.listdir(os.path.join(TOP, "exercises"))
           if os.path.isfile(os.path.join(TOP, "exercises", d, "META"))]
    return sorted(ids, key=lambda d: (int(meta(d).get("order", 0)), d))


def git(*args, cwd=TOP):
    r = subprocess.run(["git", "-C", cwd, *args], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def course_files():
    """The instructor's files: git's list, or every file but build products."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard")
    if listed is not None:
        files = listed.splitlines()
    else:
        files = [os.path.relpath(os.path.join(d, f), TOP)
                 for d, dirs, fs in os.walk(TOP) for f in fs
                 if not (set(os.path.relpath(d, TOP).split(os.sep))
                         & SKIP_DIRS)]
    return [f for f in files if not f.startswith("solutions/")
            and not BUILD_JUNK.search(f)
            and os.path.isfile(os.path.join(TOP, f))]


def base_tree(work):
    """A copy of the instructor's tree with common/ built, shared by every
    submission graded in this run."""
    base = os.path.join(work, "course")
    for f in course_files():
        os.makedirs(os.path.dirname(os.path.join(base, f)), exist_ok=True)
        shutil.copy2(os.path.join(TOP, f), os.path.join(base, f))
    r = subprocess.run([MAKE, "--no-print-directory", "-C",
                        os.path.join(base, "common"), "lib", "harness"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("grade: the course's common/ does not build:\n" + r.stdout
                 + r.stderr)
    return base


# --- one submission -----------------------------------------------------------
def open_submission(path, work):
    """The directory of a submission: path itself, or where its tarball
    was unpacked (into its one top directory, if it has one)."""
    if os.path.isdir(path):
        return path
    if not os.path.isfile(path):
        raise Unreadable(f"no such file or directory: {path}")
    dest = tempfile.mkdtemp(dir=work, prefix="unpacked-")
    try:
        with tarfile.open(path) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
            else:
                for member in tar.getmembers():
                    if member.name.startswith("/") or ".." in member.name:
                        raise Unreadable(f"{path}: unsafe path {member.name}")
                tar.extractall(dest)
    except (tarfile.TarError, OSError) as e:
        raise Unreadable(f"{path}: not a readable tarball ({e})")
    entries = os.listdir(dest)
    if len(entries) == 1 and os.path.isdir(os.path.join(dest, entries[0])):
        return os.path.join(dest, entries[0])
    return dest


def student_name(path):
    name = os.path.basename(os.path.normpath(os.path.abspath(path)))
    return re.sub(r"\.(tar\.gz|tgz|tar\.xz|tar\.bz2|tar)$", "", name)


def is_binary(path):
    with open(path, "rb") as f:
        return b"\0" in f.read(4096)


def ignored_changes(sub, learner_files):
    """Files of the submission that differ from the course or are not in
    it, other than the learner's files: listed, never used."""
    known = set(course_files())
    out = []
    for d, dirs, files in os.walk(sub):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for name in sorted(f for f in files if f != ".git"):
            rel = os.path.relpath(os.path.join(d, name), sub)
            path = os.path.join(sub, rel)
            if (rel in learner_files or BUILD_JUNK.search(rel)
                    or rel.startswith("solutions/") or is_binary(path)):
                continue
            if rel not in known:
                out.append({"path": rel, "why": "not in the course"})
            elif not filecmp.cmp(path, os.path.join(TOP, rel), shallow=False):
                out.append({"path": rel, "why": "changed"})
    return out


def tap_results(path):
    """[(status, case, name, message)] from Check's TAP; a test that runs
    more than once (a loop test) is named test[i]."""
    rows = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = TAP_LINE.match(line.rstrip("\n"))
                if m:
                    rows.append(["fail" if m.group(1) else "ok", m.group(3),
                                 m.group(4), m.group(5)])
                elif rows and line.strip() and not line.startswith("1.."):
                    rows[-1][3] += " / " + line.strip()
    except FileNotFoundError:
        return []
    counts, seen = {}, {}
    for r in rows:
        counts[r[2]] = counts.get(r[2], 0) + 1
    for r in rows:
        if counts[r[2]] > 1:
            i = seen.get(r[2], 0)
            seen[r[2]] = i + 1
            r[2] = f"{r[2]}[{i}]"
    return [tuple(r) for r in rows]


def first_error(log):
    for line in log.splitlines():
        if ": error: " in line or "undefined reference" in line:
            return line.strip()
    return (log.strip().splitlines() or ["make failed"])[-1]


def grade_exercise(ex, sub, base, work):
    """Build the instructor's copy of ex with the learner's files from sub
    laid over it, run its tests, score its cases."""
    m = meta(ex)
    exdir = os.path.join(work, "exercises", ex)
    shutil.rmtree(exdir, ignore_errors=True)
    shutil.copytree(os.path.join(base, "exercises", ex), exdir)
    files = {}
    for f in m["files"].split():
        src = os.path.join(sub, "exercises", ex, f)
        if os.path.isfile(src):
            shutil.copy2(src, os.path.join(exdir, f))
            files[f] = "submitted"
        else:
            files[f] = "missing: the skeleton was graded"
    result = {"id": ex, "chapter": m["chapter"], "section": m["section"],
              "files": files, "builds": True, "reason": None, "cases": []}
    tap = os.path.join(exdir, "grade.tap")
    try:
        r = subprocess.run([MAKE, "--no-print-directory", "-C", exdir,
                            "TOP=" + base, "all", "tests/runner"],
                           capture_output=True, text=True,
                           timeout=TEST_TIMEOUT)
        if r.returncode != 0:
            result["builds"] = False
            result["reason"] = "does not build: " + first_error(
                r.stdout + r.stderr)
        else:
            env = dict(os.environ, CK_TAP_LOG_FILE_NAME=tap,
                       CK_VERBOSITY="silent")
            for k in ("CK_RUN_CASE", "CK_RUN_SUITE", "CK_FORK"):
                env.pop(k, None)
            subprocess.run(["./tests/runner"], cwd=exdir, env=env,
                           capture_output=True, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        result["reason"] = f"stopped after {TEST_TIMEOUT} s"
    rows = tap_results(tap)
    if result["builds"] and not rows and not result["reason"]:
        result["reason"] = "the tests ran but reported nothing"
    for name, points in m["case"]:
        mine = [r for r in rows if r[1] == name]
        failures = [{"test": r[2], "message": r[3]} for r in mine
                    if r[0] == "fail"]
        passed = len(mine) - len(failures)
        earned = points if mine and not failures else 0
        result["cases"].append({"name": name, "points": earned, "max": points,
                                "passed": passed, "tests": len(mine),
                                "failures": failures})
    return result


def grade_one(path, student, out, base, work, only=None):
    """Grade one submission into out/; returns its grade (a dict)."""
    sub = open_submission(path, work)
    ids = [e for e in exercises() if not only or e in only]
    learner = {f"exercises/{e}/{f}" for e in ids
               for f in meta(e)["files"].split()}
    commit = git("rev-parse", "HEAD", cwd=sub) if os.path.exists(
        os.path.join(sub, ".git")) else None
    grade = {
        "student": student,
        "submission": os.path.abspath(path),
        "commit": commit,
        "dirty": (bool(git("status", "--porcelain", cwd=sub))
                  if commit else None),
        "time": datetime.datetime.now(datetime.timezone.utc)
        .isoformat(timespec="seconds"),
        "graded_with": git("rev-parse", "HEAD"),
        "exercises": [],
        "ignored": ignored_changes(sub, learner),
    }
    scratch = tempfile.mkdtemp(dir=work, prefix="grading-")
    for ex in ids:
        grade["exercises"].append(grade_exercise(ex, sub, base, scratch))
    shutil.rmtree(scratch, ignore_errors=True)
    chapters = {}
    for e in grade["exercises"]:
        c = chapters.setdefault(e["chapter"], {"points": 0, "max": 0})
        for case in e["cases"]:
            c["points"] += case["points"]
            c["max"] += case["max"]
    grade["chapters"] = chapters
    grade["points"] = sum(c["points"] for c in chapters.values())
    grade["max"] = sum(c["max"] for c in chapters.values())
    write_outputs(grade, out)
    return grade


# --- output ---------------------------------------------------------------------
def table(g):
    lines = [f"student {g['student']}"
             + (f", commit {g['commit'][:12]}" if g["commit"] else "")
             + (" (with uncommitted changes)" if g["dirty"] else "")
             + f", graded {g['time']}",
             f"{'exercise':<18} {'test case':<10} {'tests':>9} {'points':>7}"]
    for e in g["exercises"]:
        for c in e["cases"]:
            lines.append(f"{e['id']:<18} {c['name']:<10} "
                         f"{c['passed']:>4}/{c['tests']:<4} "
                         f"{c['points']:>3}/{c['max']:<3}")
        if e["reason"]:
            lines.append(f"{'':<18} {e['reason']}")
        for f, state in e["files"].items():
            if state != "submitted":
                lines.append(f"{'':<18} {f}: {state}")
    lines.append("")
    for ch, c in sorted(g["chapters"].items()):
        lines.append(f"chapter {ch:<27} {c['points']:>4}/{c['max']:<4}")
    lines.append(f"{'total':<35} {g['points']:>4}/{g['max']:<4}")
    if g["ignored"]:
        lines.append("")
        lines.append("Ignored (graded with the course's version instead):")
        lines += [f"  {i['path']} ({i['why']})" for i in g["ignored"]]
    return "\n".join(lines) + "\n"


def tap(g):
    body, n = [], 0
    for e in g["exercises"]:
        for c in e["cases"]:
            n += 1
            ok = "ok" if c["points"] == c["max"] else "not ok"
            body.append(f"{ok} {n} - {e['id']}/{c['name']} "
                        f"({c['points']}/{c['max']} points)")
            if e["reason"]:
                body.append(f"# {e['reason']}")
            body += [f"# {f['test']}: {f['message']}" for f in c["failures"]]
    return "TAP version 13\n" + f"1..{n}\n" + "\n".join(body) + "\n"


def write_outputs(g, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "grade.json"), "w") as f:
        json.dump(g, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "grade.tap"), "w") as f:
        f.write(tap(g))
    with open(os.path.join(out, "grade.txt"), "w") as f:
        f.write(table(g))


def roster(grades, out):
    ids = exercises()
    rows = []
    for g in grades:
        row = {"student": g["student"], "points": g.get("points", 0),
               "max": g.get("max", 0), "commit": g.get("commit") or "",
               "reason": g.get("reason", "")}
        for e in g.get("exercises", []):
            row[e["id"]] = sum(c["points"] for c in e["cases"])
            if e["reason"]:
                row["reason"] = "; ".join(
                    x for x in (row["reason"], f"{e['id']} {e['reason']}") if x)
        rows.append(row)
    fields = ["student", "points", "max", *ids, "commit", "reason"]
    with open(os.path.join(out, "roster.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval=0)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "roster.json"), "w") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")


# --- commands -------------------------------------------------------------------
def cmd_grade(args, work):
    path = args.submission or TOP
    student = args.student or student_name(path)
    try:
        g = grade_one(path, student, args.out, base_tree(work), work,
                      args.only)
    except Unreadable as e:
        print(f"grade: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(table(g))
    print(f"wrote {os.path.join(args.out, 'grade.json')}, grade.tap and "
          f"grade.txt")
    return 0 if g["points"] == g["max"] else 1


def cmd_grade_all(args, work):
    if not os.path.isdir(args.submissions):
        print(f"grade-all: no directory {args.submissions!r} "
              f"(SUBMISSIONS=<dir>)", file=sys.stderr)
        return 2
    base = base_tree(work)
    grades = []
    names = sorted(n for n in os.listdir(args.submissions)
                   if not n.startswith("."))
    for name in names:
        path = os.path.join(args.submissions, name)
        student = student_name(path)
        print(f"grading {student} ...", flush=True)
        try:
            g = grade_one(path, student, os.path.join(args.out, student),
                          base, work, args.only)
        except Unreadable as e:
            g = {"student": student, "points": 0, "reason": str(e)}
        grades.append(g)
        print(f"  {student}: {g.get('points', 0)}/{g.get('max', '?')}"
              + (f" ({g['reason']})" if g.get("reason") else ""))
    os.makedirs(args.out, exist_ok=True)
    roster(grades, args.out)
    print(f"wrote {os.path.join(args.out, 'roster.csv')} and roster.json "
          f"({len(grades)} students)")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade")
    g.add_argument("--submission")
    g.add_argument("--student")
    g.add_argument("--out", default="grade")
    ga = sub.add_parser("grade-all")
    ga.add_argument("--out", default="grade")
    ga.add_argument("submissions")
    for x in (g, ga):
        x.add_argument("--only", action="append",
                       help="grade this exercise only (repeatable)")
    args = p.parse_args()
    if args.only:
        unknown = set(args.only) - set(exercises())
        if unknown:
            p.error(f"no exercise {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="svrtut-grade-") as work:
        if args.cmd == "grade":
            return cmd_grade(args, work)
        return cmd_grade_all(args, work)


if __name__ == "__main__":
    sys.exit(main())
