#!/usr/bin/env bash
# make-corpus.sh OUTDIR: assembles a ~11 MB English text + C code corpus, offline, from Debian
# packages (scripts/install-deps.sh installs them), as OUTDIR/train.jsonl and OUTDIR/val.jsonl:
# one document per line, {"text": ..., "source": "<package>:<what>"}.
#   bible-kjv     the King James Bible, one document per chapter ("Genesis 1", then numbered verses),
#                 dumped with the package's own `bible` program
#   fortunes      fortune(6) cookies (fortunes, fortunes-min), one per document (strfile text: %-separated)
#   dict-devil    The Devil's Dictionary, one entry per document (dictd .dict.dz = gzip + .index)
#   dict-jargon   The Jargon File, one entry per document
#   libc6-dev     the C library's headers (/usr/include), one file per document
# Deterministic: inputs in sorted order, exact duplicate documents dropped (first kept), and a
# document goes to val.jsonl when the first 8 bytes of its text's SHA-256, as a big-endian number,
# are 0 mod 50 (~2 %). OUTDIR/manifest.txt lists the package versions and per-source counts.
set -euo pipefail
if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -eq 1 ] && exit 0 || exit 2
fi
OUT=$1
PKGS="bible-kjv bible-kjv-text fortunes fortunes-min dict-devil dict-jargon libc6-dev"
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "make-corpus.sh: error: Debian package $p is not installed (bash scripts/install-deps.sh)" >&2
    exit 1
  fi
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# -l0: one line per verse (no wrapping at $COLUMNS); stdin closed so bible never waits for input
env -u COLUMNS LC_ALL=C bible -l0 gen1:1-rev22:21 </dev/null >"$tmp/bible.txt"
for p in $PKGS; do
  printf '%s\t%s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p")"
done >"$tmp/versions.tsv"
for p in fortunes fortunes-min libc6-dev; do dpkg -L "$p" | sed "s|^|$p\t|"; done >"$tmp/files.tsv"

LC_ALL=C.UTF-8 "$PY" - "$OUT" "$tmp" <<'EOF'
import gzip, hashlib, json, os, sys

out_dir, tmp = sys.argv[1], sys.argv[2]
pkg_files = {}
for line in open(os.path.join(tmp, "files.tsv"), encoding="utf-8"):
    pkg, path = line.rstrip("\n").split("\t")
    pkg_files.setdefault(pkg, []).append(path)


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def bible():
    """`bible -l0` prints a blank line and the chapter title ("1 Kings 3"), then "  N text" lines."""
    title, verses = None, []
    for line in open(os.path.join(tmp, "bible.txt"), encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        if line.startswith(" "):
            verses.append(line.strip())
            continue
        if title:
            yield "bible-kjv:" + title, title + "\n\n" + "\n".join(verses) + "\n"
        title, verses = line, []
    if title:
        yield "bible-kjv:" + title, title + "\n\n" + "\n".join(verses) + "\n"


def fortunes():
    """strfile text files: cookies separated by lines holding a single '%'."""
    paths = [(p, pkg) for pkg in ("fortunes", "fortunes-min") for p in pkg_files[pkg]
             if p.startswith("/usr/share/games/fortunes/") and not p.endswith((".dat", ".u8"))
             and os.path.isfile(p) and not os.path.islink(p)]
    for path, pkg in sorted(paths):
        cookie = []
        for line in read_text(path).split("\n") + ["%"]:
            if line == "%":
                text = "\n".join(cookie).strip("\n")
                if text.strip():
                    yield "%s:%s" % (pkg, os.path.basename(path)), text + "\n"
                cookie = []
            else:
                cookie.append(line)


def dictd(pkg, name):
    """A dictd database: the .index lines are headword TAB offset TAB length (base64 numbers) into
    the gzip-compatible .dict.dz; entries in file order, the 00database* metadata skipped."""
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    b64 = lambda s: sum(digits.index(c) * 64 ** i for i, c in enumerate(reversed(s)))
    data = gzip.open("/usr/share/dictd/%s.dict.dz" % name).read()
    spans = {}
    for line in open("/usr/share/dictd/%s.index" % name, encoding="utf-8", errors="replace"):
        head, off, length = line.rstrip("\n").split("\t")[:3]
        if head.startswith("00database") or head.startswith("00-database"):
            continue
        spans.setdefault((b64(off), b64(length)), head)
    for (off, length), head in sorted(spans.items()):
        text = data[off:off + length].decode("utf-8", errors="replace").strip("\n")
        if text.strip():
            yield "%s:%s" % (pkg, head), text + "\n"


def headers():
    for path in sorted(p for p in pkg_files["libc6-dev"] if p.startswith("/usr/include/") and p.endswith(".h")):
        if os.path.isfile(path):
            yield "libc6-dev:" + path, read_text(path)


sources = [bible(), fortunes(), dictd("dict-devil", "devil"), dictd("dict-jargon", "jargon"), headers()]
seen, counts = set(), {}
split_files = {s: open(os.path.join(out_dir, s + ".jsonl.tmp"), "w", encoding="utf-8") for s in ("train", "val")}
for gen in sources:
    for source, text in gen:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        if digest in seen:
            continue
        seen.add(digest)
        split = "val" if int.from_bytes(digest[:8], "big") % 50 == 0 else "train"
        split_files[split].write(json.dumps({"text": text, "source": source}, ensure_ascii=False) + "\n")
        pkg = source.split(":")[0]
        c = counts.setdefault(pkg, {"train": 0, "val": 0, "bytes": 0})
        c[split] += 1
        c["bytes"] += len(text.encode("utf-8"))
for s, f in split_files.items():
    f.close()
    os.replace(os.path.join(out_dir, s + ".jsonl.tmp"), os.path.join(out_dir, s + ".jsonl"))
with open(os.path.join(out_dir, "manifest.txt"), "w", encoding="utf-8") as f:
    f.write("# package\tversion\n" + open(os.path.join(tmp, "versions.tsv"), encoding="utf-8").read())
    f.write("# source\ttrain_docs\tval_docs\tbytes\n")
    for pkg, c in counts.items():
        f.write("%s\t%d\t%d\t%d\n" % (pkg, c["train"], c["val"], c["bytes"]))
total = sum(c["bytes"] for c in counts.values())
print("make-corpus.sh: %d documents (%d val), %.1f MB -> %s/train.jsonl, val.jsonl" % (
    sum(c["train"] + c["val"] for c in counts.values()), sum(c["val"] for c in counts.values()),
    total / 1e6, out_dir), file=sys.stderr)
EOF
