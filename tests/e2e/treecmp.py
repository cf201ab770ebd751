#!/usr/bin/env python3
"""Compares two directory trees byte for byte and metadata for metadata.

usage: treecmp.py [--sparse-slack BYTES] SOURCE RESTORED

Both roots and everything below them are compared without following symlinks (lstat):

  - the set of names in every directory (names are bytes; they need not be UTF-8);
  - type, permission bits including setuid, setgid and sticky (not for symlinks, whose mode
    Linux fixes at 0777), uid, gid, and mtime to the nanosecond, for every entry;
  - symlink targets, as bytes;
  - regular files: size and content; for a sparse source file, that the restored file does not
    allocate much more than the source (at most twice the source's blocks plus --sparse-slack);
  - hard links: the groups of paths that share an inode must be the same in both trees.

Prints one line per difference and exits 1 if there is any, 0 if the trees match, 2 on a usage
error. Access times and change times are not compared: restoring cannot set ctime, and reading the
source changes its atime.
"""

import argparse
import errno
import os
import stat
import sys

TYPE_NAMES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}

READ_SIZE = 1 << 20
MAX_REPORTED = 200


class Report:
    def __init__(self):
        self.count = 0

    def diff(self, rel, message):
        self.count += 1
        if self.count <= MAX_REPORTED:
            print(f"{show(rel)}: {message}")


def show(rel):
    """A path for messages: printable ASCII kept, every other byte escaped."""
    return repr(rel)[2:-1] if rel else "."


def walk(root):
    """Maps each relative path (bytes, b"" for the root) under root to its lstat result."""
    entries = {}
    pending = [b""]
    while pending:
        rel = pending.pop()
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        entries[rel] = st
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(path) as it:
                for entry in it:
                    pending.append(os.path.join(rel, entry.name) if rel else entry.name)
    return entries


def type_name(st):
    return TYPE_NAMES.get(stat.S_IFMT(st.st_mode), f"type {stat.S_IFMT(st.st_mode):o}")


def data_extents(fd, size):
    """The [start, end) ranges of fd that hold data, found with SEEK_DATA and SEEK_HOLE."""
    extents = []
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        extents.append((start, end))
        offset = end
    return extents


def merge(ranges):
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def first_difference(fd_a, fd_b, size):
    """The offset of the first differing byte of two files of equal size, or None.

    Only ranges where either file holds data are read: where both have a hole both read as zeros.
    """
    for start, end in merge(data_extents(fd_a, size) + data_extents(fd_b, size)):
        offset = start
        while offset < end:
            n = min(READ_SIZE, end - offset)
            a = os.pread(fd_a, n, offset)
            b = os.pread(fd_b, n, offset)
            if a != b:
                for i in range(min(len(a), len(b))):
                    if a[i] != b[i]:
                        return offset + i
                return offset + min(len(a), len(b))
            offset += n
    return None


def compare_contents(report, rel, path_a, path_b, st_a, st_b, sparse_slack):
    if st_a.st_size != st_b.st_size:
        report.diff(rel, f"size {st_a.st_size} != {st_b.st_size}")
        return
    fd_a = os.open(path_a, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fd_b = os.open(path_b, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            at = first_difference(fd_a, fd_b, st_a.st_size)
        finally:
            os.close(fd_b)
    finally:
        os.close(fd_a)
    if at is not None:
        report.diff(rel, f"content differs at byte {at}")
    allocated_a = st_a.st_blocks * 512
    allocated_b = st_b.st_blocks * 512
    if allocated_a < st_a.st_size and allocated_b > 2 * allocated_a + sparse_slack:
        report.diff(rel, f"sparse file not kept sparse: {allocated_b} bytes allocated, "
                         f"source has {allocated_a} for {st_a.st_size} bytes")


def link_groups(entries):
    """The sets of relative paths of non-directories that share an inode, where a set has >1."""
    by_inode = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_inode.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    return {frozenset(g) for g in by_inode.values() if len(g) > 1}


def show_group(group):
    return "{" + ", ".join(show(p) for p in sorted(group)) + "}"


def compare(root_a, root_b, sparse_slack):
    report = Report()
    entries_a = walk(root_a)
    entries_b = walk(root_b)

    for rel in sorted(entries_a.keys() | entries_b.keys()):
        st_a = entries_a.get(rel)
        st_b = entries_b.get(rel)
        if st_b is None:
            report.diff(rel, f"{type_name(st_a)} missing from {show(root_b)}")
            continue
        if st_a is None:
            report.diff(rel, f"{type_name(st_b)} not in {show(root_a)}")
            continue
        if stat.S_IFMT(st_a.st_mode) != stat.S_IFMT(st_b.st_mode):
            report.diff(rel, f"type {type_name(st_a)} != {type_name(st_b)}")
            continue
        if not stat.S_ISLNK(st_a.st_mode) and stat.S_IMODE(st_a.st_mode) != stat.S_IMODE(
                st_b.st_mode):
            report.diff(rel, f"mode {stat.S_IMODE(st_a.st_mode):04o} != "
                             f"{stat.S_IMODE(st_b.st_mode):04o}")
        if (st_a.st_uid, st_a.st_gid) != (st_b.st_uid, st_b.st_gid):
            report.diff(rel, f"owner {st_a.st_uid}:{st_a.st_gid} != {st_b.st_uid}:{st_b.st_gid}")
        if st_a.st_mtime_ns != st_b.st_mtime_ns:
            report.diff(rel, f"mtime {st_a.st_mtime_ns} ns != {st_b.st_mtime_ns} ns")
        path_a = os.path.join(root_a, rel) if rel else root_a
        path_b = os.path.join(root_b, rel) if rel else root_b
        if stat.S_ISLNK(st_a.st_mode):
            target_a, target_b = os.readlink(path_a), os.readlink(path_b)
            if target_a != target_b:
                report.diff(rel, f"symlink target {show(target_a)} != {show(target_b)}")
        elif stat.S_ISREG(st_a.st_mode):
            compare_contents(report, rel, path_a, path_b, st_a, st_b, sparse_slack)
        elif stat.S_ISCHR(st_a.st_mode) or stat.S_ISBLK(st_a.st_mode):
            if st_a.st_rdev != st_b.st_rdev:
                report.diff(rel, f"device {st_a.st_rdev:#x} != {st_b.st_rdev:#x}")

    groups_a = link_groups(entries_a)
    groups_b = link_groups(entries_b)
    for group in sorted(groups_a - groups_b, key=sorted):
        report.diff(b"", f"hard-link group {show_group(group)} not linked the same way in "
                         f"{show(root_b)}")
    for group in sorted(groups_b - groups_a, key=sorted):
        report.diff(b"", f"hard-link group {show_group(group)} in {show(root_b)} is not one in "
                         f"{show(root_a)}")

    if report.count > MAX_REPORTED:
        print(f"... and {report.count - MAX_REPORTED} more differences")
    return report.count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sparse-slack", type=int, default=1 << 20,
                        help="bytes a restored sparse file may allocate beyond twice the source's")
    parser.add_argument("source")
    parser.add_argument("restored")
    args = parser.parse_args()
    root_a, root_b = os.fsencode(args.source), os.fsencode(args.restored)
    for root in (root_a, root_b):
        if not os.path.isdir(root) or os.path.islink(root):
            print(f"treecmp: not a directory: {show(root)}", file=sys.stderr)
            return 2
    differences = compare(root_a, root_b, args.sparse_slack)
    if differences:
        print(f"treecmp: {differences} difference(s) between {show(root_a)} and {show(root_b)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
