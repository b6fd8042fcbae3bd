#!/usr/bin/env python3
"""Writes the seed corpus of the bundle reader's fuzz target (Tests/Fuzz/corpus/bundle/).

Each seed is a small .tar.gz exercising one path through BundleReader: valid bundles with
every operation kind, a wrapper directory, PAX and GNU long names, a ustar prefix, a base-256
size field, a PAX size record, and broken ones (truncated gzip or tar, trailing data, bad
checksum, hash mismatches, links, bad paths). The two real client bundles from
Tests/Fixtures/context-engine/ are copied in.

Every seed that is one clean gzip member is also written as its plain tar (`plain-*.tar`): the
fuzz target gzips any input that does not start with 0x1f, so mutations of those reach the tar
parser, the JSON and the matcher without breaking the gzip CRC.

The output is deterministic (fixed mtimes, gzip mtime 0), so re-running it changes nothing.
Usage: scripts/make-fuzz-corpus.py [OUTPUT_DIR]
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "Fuzz", "corpus", "bundle")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "context-engine")
MTIME = 1_790_000_000
MAX_SEED = 64 * 1024


# MARK: - Bundle content


def sha1(data):
    return "sha1:" + hashlib.sha1(data).hexdigest()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(bundle_id="fuzz-seed-1", **extra):
    document = {
        "version": "1.0",
        "bundle_id": bundle_id,
        "workspace_path": "/home/dev/demo",
        "collection_name": "demo-1234",
        "created_at": "2026-11-22T00:10:40.515041",
        "sequence_number": None,
        "parent_sequence": None,
        "operations": {"created": 1, "updated": 0, "deleted": 0, "moved": 0},
        "total_files": 1,
        "total_size_bytes": 6,
        "compression": "gzip",
        "encoding": "utf-8",
    }
    document.update(extra)
    return json.dumps(document, indent=1).encode()


def operations(*ops):
    return json.dumps({"operations": list(ops)}, indent=1).encode()


def created(path, data, kind="created", hasher=sha256, **extra):
    op = {"operation": kind, "path": path, "size_bytes": len(data), "content_hash": hasher(data)}
    op.update(extra)
    return op


# MARK: - Tar writing


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, data) for files, (name, None) for directories, or TarInfo with data."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for entry in entries:
            if isinstance(entry, tuple) and isinstance(entry[0], tarfile.TarInfo):
                info, data = entry
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
                continue
            name, data = entry
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.uname = info.gname = "dev"
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def raw_header(name, size, typeflag=b"0", size_field=None, mode=0o644, prefix=b"", checksum_delta=0):
    """A hand-made ustar header block, for what tarfile will not write (base-256 small sizes)."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"%07o\0" % mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size_field if size_field is not None else b"%011o\0" % size
    block[136:148] = b"%011o\0" % MTIME
    block[148:156] = b"        "
    block[156:157] = typeflag
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[345 : 345 + len(prefix)] = prefix
    checksum = sum(block) + checksum_delta
    block[148:156] = b"%06o\0 " % checksum
    return bytes(block)


def raw_entry(name, data, **kwargs):
    padding = (512 - len(data) % 512) % 512
    return raw_header(name, len(data), **kwargs) + data + b"\0" * padding


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length = len(str(length).encode()) + len(body)
    return str(length).encode() + body


def end_of_archive():
    return b"\0" * 1024


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# MARK: - Seeds


def basic_bundle_entries(bundle_id="fuzz-seed-1"):
    hello = b"hello\n"
    return [
        ("files/created/src/hello.txt", hello),
        ("metadata/operations.json", operations(created("src/hello.txt", hello))),
        ("manifest.json", manifest(bundle_id)),
    ]


def seeds():
    hello = b"hello\n"
    main_v2 = b"print('v2')\n"
    moved = b"def greet():\n    return 'hi'\n"
    seeds = {}

    seeds["valid-created.tar.gz"] = gz(tar_bytes(basic_bundle_entries()))

    # Every operation kind, a wrapper directory, directory entries, hashes.json with SHA-1.
    wrapper = "3a36da3c-1bad-4600-9497-fc697ac3e1f7"
    ops = [
        created("src/new.ts", b"export const x = 1\n", hasher=sha1, language="typescript"),
        created("src/main.py", main_v2, kind="updated", hasher=sha1, previous_hash=sha1(b"print('v1')\n")),
        created("src/pkg/greet.py", moved, kind="moved", hasher=sha1, source_path="src/pkg/hello.py"),
        {"operation": "moved", "path": "docs/b.md", "source_path": "docs/a.md"},
        {"operation": "deleted", "path": "Dockerfile", "previous_hash": sha1(b"FROM scratch\n"), "file_hash": None},
    ]
    hashes = {
        "workspace_path": "/home/dev/demo",
        "updated_at": "2026-11-22T00:10:40.515041",
        "file_hashes": {"src/new.ts": sha1(b"export const x = 1\n"), "src/main.py": sha1(main_v2)},
    }
    entries = [
        (wrapper, None),
        (wrapper + "/files", None),
        (wrapper + "/files/created/src/new.ts", b"export const x = 1\n"),
        (wrapper + "/files/updated/src/main.py", main_v2),
        (wrapper + "/files/moved/src/pkg/greet.py", moved),
        (wrapper + "/manifest.json", manifest(wrapper)),
        (wrapper + "/metadata/hashes.json", json.dumps(hashes).encode()),
        (wrapper + "/metadata/operations.json", operations(*ops)),
    ]
    seeds["valid-wrapper-all-ops.tar.gz"] = gz(tar_bytes(entries, fmt=tarfile.GNU_FORMAT))

    # PAX long and non-ASCII names (tarfile writes `path=` records).
    long_path = "src/" + "/".join(["deeply-nested-directory-%02d" % i for i in range(6)]) + "/file.txt"
    unicode_path = "src/caf\u00e9/na\u00efve-\u65e5\u672c.txt"
    entries = [
        ("files/created/" + long_path, hello),
        ("files/created/" + unicode_path, main_v2),
        ("metadata/operations.json", operations(created(long_path, hello), created(unicode_path, main_v2))),
        ("manifest.json", manifest()),
    ]
    seeds["valid-pax-long-names.tar.gz"] = gz(tar_bytes(entries, fmt=tarfile.PAX_FORMAT))
    seeds["valid-gnu-long-names.tar.gz"] = gz(tar_bytes(entries, fmt=tarfile.GNU_FORMAT))
    # ustar's prefix field (names of 100-255 bytes split at a slash).
    prefix_path = "src/" + "p" * 90 + "/file.txt"
    entries = [
        ("files/created/" + prefix_path, hello),
        ("metadata/operations.json", operations(created(prefix_path, hello))),
        ("manifest.json", manifest()),
    ]
    seeds["valid-ustar-prefix.tar.gz"] = gz(tar_bytes(entries, fmt=tarfile.USTAR_FORMAT))

    # A GNU base-256 size field, and a PAX `size=` record overriding the header's size.
    base256 = b"\x80" + (len(hello)).to_bytes(11, "big")
    body = raw_header(b"files/created/src/hello.txt", 0, size_field=base256) + hello + b"\0" * (512 - len(hello))
    body += raw_entry(b"metadata/operations.json", operations(created("src/hello.txt", hello)))
    body += raw_entry(b"manifest.json", manifest())
    seeds["valid-base256-size.tar.gz"] = gz(body + end_of_archive())

    pax = pax_record(b"size", str(len(hello)).encode()) + pax_record(b"path", b"files/created/src/hello.txt")
    pax += pax_record(b"mtime", b"1790000000.5")
    body = raw_entry(b"PaxHeaders/x", pax, typeflag=b"x")
    body += raw_header(b"placeholder", 0) + hello + b"\0" * (512 - len(hello))
    body += raw_entry(b"pax_global_header", pax_record(b"comment", b"seed"), typeflag=b"g")
    body += raw_entry(b"metadata/operations.json", operations(created("src/hello.txt", hello)))
    body += raw_entry(b"manifest.json", manifest())
    seeds["valid-pax-size-record.tar.gz"] = gz(body + end_of_archive())

    # Modes as string and integer, an empty file, loose manifest field types, "./" names.
    exe = b"#!/bin/sh\necho hi\n"
    ops = [
        created("bin/run.sh", exe, mode="755"),
        created("bin/tool", exe, mode=493),
        created("empty.txt", b""),
        {"operation": "deleted", "path": "old.txt"},
    ]
    loose = manifest(
        "loose_manifest.v2", sequence_number="42", parent_sequence=41.0, total_files="3", operations=None
    )
    entries = [
        ("./", None),
        ("./files/created/bin/run.sh", exe),
        ("./files/created/bin/tool", exe),
        ("./files/created/empty.txt", b""),
        ("./metadata/operations.json", operations(*ops)),
        ("./manifest.json", loose),
    ]
    seeds["valid-modes-loose-manifest.tar.gz"] = gz(tar_bytes(entries))

    entries = [
        ("metadata/operations.json", operations({"operation": "deleted", "path": "a/\u00e9A.txt"})),
        ("manifest.json", manifest(operations={"created": 0, "deleted": 1})),
    ]
    seeds["valid-deleted-only.tar.gz"] = gz(tar_bytes(entries))

    # Broken containers.
    valid = seeds["valid-created.tar.gz"]
    seeds["truncated-gzip.tar.gz"] = valid[: len(valid) // 2]
    plain_tar = tar_bytes(basic_bundle_entries())
    seeds["truncated-tar.tar.gz"] = gz(plain_tar[:1300])
    seeds["trailing-gzip-member.tar.gz"] = valid + gz(b"more")
    seeds["trailing-garbage.tar.gz"] = valid + b"\0\0garbage"
    bad = bytearray(plain_tar)
    bad[150] ^= 0x01
    seeds["bad-checksum.tar.gz"] = gz(bytes(bad))
    seeds["entry-after-end.tar.gz"] = gz(b"\0" * 512 + plain_tar)

    # Broken content.
    entries = basic_bundle_entries()
    entries[1] = ("metadata/operations.json", operations(created("src/hello.txt", b"other\n")))
    seeds["hash-mismatch.tar.gz"] = gz(tar_bytes(entries))
    entries = [
        ("metadata/operations.json", operations(created("src/absent.txt", hello, hasher=sha1))),
        ("manifest.json", manifest()),
    ]
    seeds["content-missing.tar.gz"] = gz(tar_bytes(entries))
    entries = basic_bundle_entries()
    entries.append(("metadata/hashes.json", json.dumps({"file_hashes": {"src/hello.txt": "sha1:zz"}}).encode()))
    seeds["bad-hashes-json.tar.gz"] = gz(tar_bytes(entries))
    entries = basic_bundle_entries()
    entries.insert(0, ("files/created/../escape.txt", hello))
    seeds["dotdot-path.tar.gz"] = gz(tar_bytes(entries))
    link = tarfile.TarInfo("files/created/src/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    seeds["symlink-entry.tar.gz"] = gz(tar_bytes([(link, None)] + basic_bundle_entries()))
    entries = basic_bundle_entries()
    seeds["duplicate-manifest.tar.gz"] = gz(tar_bytes(entries + [entries[-1]]))
    entries = basic_bundle_entries()
    entries[-1] = ("manifest.json", b'{"version": "2.0", "bundle_id": "x y", "operations": {"created": "1"}}')
    seeds["bad-version.tar.gz"] = gz(tar_bytes(entries))
    entries[-1] = ("manifest.json", b'{"version": "1.0", "bundle_id": "ok", "n": [1e400, -0.0, "\\ud800"]')
    seeds["bad-json.tar.gz"] = gz(tar_bytes(entries))
    seeds["not-gzip.tar.gz"] = b"\x1f\x9dBZh91AY&SY" + plain_tar[:512]
    return seeds


def plain_tar(data):
    """The tar inside a single clean gzip member, without tarfile's record padding; else None."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        tar = inflater.decompress(data) + inflater.flush()
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data:
        return None
    tar = tar.rstrip(b"\0")
    return tar + b"\0" * ((512 - len(tar) % 512) % 512) + end_of_archive()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    all_seeds = seeds()
    for name in ("bundle1_initial.tar.gz", "bundle2_delta.tar.gz"):
        source = os.path.join(FIXTURES, name)
        if os.path.exists(source) and os.path.getsize(source) < MAX_SEED:
            with open(source, "rb") as handle:
                all_seeds["fixture-" + name] = handle.read()
    for name, data in list(all_seeds.items()):
        tar = plain_tar(data)
        if tar is not None:
            all_seeds["plain-" + name[: -len(".gz")]] = tar
    for name, data in sorted(all_seeds.items()):
        assert len(data) < MAX_SEED, name
        with open(os.path.join(out, name), "wb") as handle:
            handle.write(data)
    print("wrote %d seeds to %s" % (len(os.listdir(out)), os.path.relpath(out, ROOT)))


if __name__ == "__main__":
    main()
