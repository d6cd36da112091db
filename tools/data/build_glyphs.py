#!/usr/bin/env python3
"""Build a notMNIST-style font-glyph dataset (62 classes: 0-9, A-Z, a-z) from Debian font packages.

Method: every face of the curated Debian font packages renders each glyph centred on a
64x64 canvas (tools/data/curated_fonts.txt). Packages are fetched with `apt-get download` and
unpacked with `dpkg -x` into a scratch dir; nothing is installed. Whole font families are held out as
the test split. Deps: pillow, numpy, fonttools.

  python3 tools/data/build_glyphs.py --out /work/data/fonts64.npz --sources-md DATA_SOURCES.md
"""
import argparse
import glob
import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter
from multiprocessing import Pool

import numpy as np
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageDraw, ImageFont

CLASSES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HERE = os.path.dirname(os.path.abspath(__file__))
SS = 4                       # render supersampling factor
CAP, BASE = 0.56, 0.78       # cap height of "H" and baseline, as fractions of the box
DEDUP_RMS, MIN_SELFSIM, TEST_PCT = 0.04, 0.35, 10
# Not in datasets.md, added after inspecting the grids: raw cosine to the blurry median prototypes
# still passes symmetric dingbats (snowflakes, stars, tiles, hearts) and inverted faces (~0.4-0.5), so
# also require class-specific structure: cosine after subtracting the face's own mean glyph.
MIN_CLASS_SIM = 0.08
# Families whose near-identical faces (RMS below this) have other names ("Inter" / "Inter Display",
# Latin Modern / CMU) go to the same split. Above ~0.06 unrelated sans faces start to chain together.
LINK_RMS = 0.05
# Faces that cover 0-9A-Za-z but draw other scripts there (found by inspection).
EXCLUDE = {"fonts-linex": {"alfa-beta.ttf", "ellenike.ttf", "ellenbold.ttf", "ellenita.ttf", "elleboli.ttf"},
           "fonts-lyx": {"cmsy10.ttf"}}  # Greek transliteration; maths symbols
STYLE_WORDS = set("""thin hairline extralight ultralight light book regular normal roman medium semibold
    demibold bold extrabold ultrabold black heavy italic oblique slanted condensed cond narrow
    semicondensed expanded extended wide extra semi demi ultra""".split())


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        raise subprocess.CalledProcessError(r.returncode, cmd[:2], r.stdout, r.stderr[-2000:])
    return r.stdout


def fetch(pkgs, work):
    """Download the .debs (once) and unpack each into work/root/PKG; return {pkg: version}."""
    debs, root = os.path.join(work, "debs"), os.path.join(work, "root")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(root, exist_ok=True)
    missing = [p for p in pkgs if not glob.glob(os.path.join(debs, f"{p}_*.deb"))]
    if missing:
        try:
            sh(["apt-get", "download", *missing], cwd=debs)
        except subprocess.CalledProcessError:
            sh(["apt-get", "update"])
            sh(["apt-get", "download", *missing], cwd=debs)
    versions = {}
    for p in pkgs:
        (deb,) = glob.glob(os.path.join(debs, f"{p}_*.deb"))
        versions[p] = sh(["dpkg-deb", "-f", deb, "Version"]).strip()
        dest = os.path.join(root, p)
        if not os.path.isdir(dest):
            sh(["dpkg-deb", "-x", deb, dest + ".tmp"])
            os.rename(dest + ".tmp", dest)
    return versions


def font_files(root, pkgs):
    # .t1/.pfb/.woff only duplicate the ttf/otf files; symlinks point at files listed elsewhere.
    out = []
    for p in pkgs:
        for d, _, files in os.walk(os.path.join(root, p)):
            for f in sorted(files):
                path = os.path.join(d, f)
                if (f.lower().endswith((".ttf", ".otf", ".ttc")) and not os.path.islink(path)
                        and f not in EXCLUDE.get(p, ())):
                    out.append((p, path))
    return sorted(out)


def fit_font(path, idx, target_cap):
    ref = ImageFont.truetype(path, 200, index=idx, layout_engine=ImageFont.Layout.BASIC)
    cap = -ref.getbbox("H", anchor="ls")[1]
    if cap <= 0:
        raise ValueError("empty H")
    return 200 * target_cap / cap


def render_face(path, idx, size):
    """Return uint8 [62, size, size] (white on black), or raise on a blank glyph."""
    S = size * SS
    base, margin = BASE * S, SS
    pt = fit_font(path, idx, CAP * S)
    font = ImageFont.truetype(path, pt, index=idx, layout_engine=ImageFont.Layout.BASIC)
    out = np.zeros((len(CLASSES), size, size), np.uint8)
    for k, ch in enumerate(CLASSES):
        f, l, t, r, b = font, *font.getbbox(ch, anchor="ls")
        # Shrink about the baseline so over-wide or over-tall glyphs fit the box.
        s = min(1.0, (S - 2 * margin) / max(r - l, 1), (base - margin) / max(-t, 1),
                (S - margin - base) / max(b, 1))
        if s < 1.0:
            f = ImageFont.truetype(path, pt * s * 0.98, index=idx, layout_engine=ImageFont.Layout.BASIC)
            l, t, r, b = f.getbbox(ch, anchor="ls")
        img = Image.new("L", (S, S), 0)
        ImageDraw.Draw(img).text((S / 2 - (l + r) / 2, base), ch, fill=255, font=f, anchor="ls")
        a = np.asarray(img, np.float32)
        if a.max() == 0:
            raise ValueError(f"blank glyph {ch!r}")
        out[k] = np.round(a.reshape(size, SS, size, SS).mean((1, 3)))
    return out


def family_key(family):
    """Family name without weight/width/style words, so e.g. 'Foo Light' and 'Foo' split together."""
    words = re.findall(r"[a-z]+|\d+", family.lower())
    kept = [w for w in words if w not in STYLE_WORDS and not w.isdigit()]
    return " ".join(kept or words)


def process_file(job):
    """Worker: all faces of one font file -> list of (pkg, face_name, family, glyphs|None, status)."""
    pkg, path, size, root = job
    rel = os.path.relpath(path, os.path.join(root, pkg))
    try:
        fonts = TTCollection(path, lazy=True).fonts if path.lower().endswith(".ttc") else [TTFont(path, lazy=True)]
    except Exception as e:
        return [(pkg, rel, "", None, f"unreadable: {e}")]
    res = []
    for idx, tt in enumerate(fonts):
        name = f"{rel}#{idx}"
        try:
            cmap = tt.getBestCmap() or {}
            nt = tt["name"]
            family = nt.getBestFamilyName() or os.path.basename(path)
            name = f"{pkg}:{rel}#{idx}:{nt.getBestFullName() or family}"
            if not all(ord(c) in cmap for c in CLASSES):
                res.append((pkg, name, family, None, "coverage"))
                continue
            res.append((pkg, name, family, render_face(path, idx, size), "ok"))
        except Exception as e:
            res.append((pkg, name, "", None, f"render: {type(e).__name__}"))
    return res


def box(x, n):
    """Box-downsample [..., S, S] to [..., n, n] as float32 in [0, 1]."""
    S = x.shape[-1]
    return x.reshape(*x.shape[:-2], n, S // n, n, S // n).mean((-3, -1), dtype=np.float32) / 255


def pair_rms(feat):
    """All-pairs RMS difference of rows via one matmul."""
    sq = (feat ** 2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * feat @ feat.T
    return np.sqrt(np.maximum(d2, 0) / feat.shape[1])


def dedup(glyphs):
    """Greedy in face order: keep a face unless it is within DEDUP_RMS of an already-kept face."""
    d = pair_rms(box(glyphs, 16).reshape(len(glyphs), -1))
    keep = np.zeros(len(glyphs), bool)
    for i in range(len(glyphs)):
        keep[i] = not (d[i, keep] < DEDUP_RMS).any()
    return keep, d


def selfsim(glyphs):
    """Mean cosine similarity of each face's glyphs to the per-class median prototypes (32x32):
    raw, and with the face's mean glyph (resp. the prototypes' mean) subtracted."""
    x = box(glyphs, 32).reshape(len(glyphs), len(CLASSES), -1)
    proto = np.median(x, axis=0)

    def cos(a, p):
        a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-8)
        return (a * (p / (np.linalg.norm(p, axis=-1, keepdims=True) + 1e-8))[None]).sum(-1).mean(1)
    return cos(x, proto), cos(x - x.mean(1, keepdims=True), proto - proto.mean(0))


def split_groups(fkeys, dist):
    """Union families that share a near-identical face; name each group by its smallest family key."""
    parent = {k: k for k in fkeys}

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k
    for i, j in zip(*np.nonzero(np.triu(dist < LINK_RMS, 1))):
        a, b = sorted((root(fkeys[i]), root(fkeys[j])))
        parent[b] = a
    return [root(k) for k in fkeys]


def is_test(group):
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % 100 < TEST_PCT


FREEFORM_LICENCES = [(r"Open\s+Font\s+License,?\s+Version\s+1\.1", "OFL-1.1"),
                     (r"Open\s+Font\s+License,?\s+Version\s+1\.0", "OFL-1.0"),
                     (r"GUST\s+Font\s+License", "GFL"),
                     (r"Public\s+License[^.]*version\s+2|common-licenses/GPL-2", "GPL-2"),
                     (r"Public\s+License[^.]*version\s+3|common-licenses/GPL-3", "GPL-3"),
                     (r"(font|special|following)\s+exception", "font exception"), (r"public\s+domain", "public domain")]


def licences(root, pkg):
    """Short names of the License: fields of a DEP-5 copyright file (debian/* stanzas excluded)."""
    path = os.path.join(root, pkg, "usr/share/doc", pkg, "copyright")
    if not os.path.isfile(path):
        return ["(no copyright file in package)"]
    text = open(path, encoding="utf-8", errors="replace").read()
    found = []
    for para in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", para, re.M)
        lic = re.search(r"^License:[ \t]*(\S.*)", para, re.M)
        if files and lic and files.group(1).split() != ["debian/*"]:
            if lic.group(1).strip() not in found:
                found.append(lic.group(1).strip())
    if found:
        return found
    # Free-form copyright file: name the licences its upstream part mentions, marked as such.
    text = re.split(r"\n.*Debian packaging", text, flags=re.I)[0]
    hits = [name for pat, name in FREEFORM_LICENCES if re.search(pat, text, re.I)]
    return [f"free-form: {', '.join(hits) or '?'} (see copyright file)"]


def write_sources(path, pkgs, dropped, versions, lics, counts, n_faces, n_fam):
    lines = ["# Data sources", "",
             "The font-glyph training set (`tools/data/build_glyphs.py`) is rendered from the Debian bookworm",
             "packages below (all in Debian main, hence DFSG-free). Licences are the `License:` fields of each",
             "package's `/usr/share/doc/PKG/copyright`, the `debian/*` packaging stanza excluded; for copyright",
             "files that are not machine-readable, the licences the upstream part names (check the file).",
             "Faces are those in the final dataset (train + test). The dataset itself is not committed;",
             "regenerate it with:", "",
             "    python3 tools/data/build_glyphs.py --out /work/data/fonts64.npz --sources-md DATA_SOURCES.md", "",
             f"{n_faces} faces from {n_fam} families in total. Left out of `tools/data/curated_fonts.txt`:", "",
             *[f"- {d}" for d in dropped], "",
             "| package | version | licence | faces |", "|---|---|---|---|"]
    for p in pkgs:
        lines.append(f"| {p} | {versions[p]} | {' / '.join(lics[p]).replace('|', '/')} | {counts.get(p, 0)} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def save_grid(path, images, n=8, seed=0):
    """n random faces (rows) x 62 classes (columns), 2px grey separators."""
    s = images.shape[-1]
    pick = np.random.default_rng(seed).choice(len(images) // len(CLASSES), n, replace=False)
    g = np.full((n * (s + 2), len(CLASSES) * (s + 2)), 60, np.uint8)
    for r, fi in enumerate(pick):
        for c in range(len(CLASSES)):
            g[r * (s + 2):r * (s + 2) + s, c * (s + 2):c * (s + 2) + s] = images[fi * len(CLASSES) + c]
    Image.fromarray(g).save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/glyphs-work")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--packages", default=os.path.join(HERE, "curated_fonts.txt"))
    ap.add_argument("--sources-md")
    ap.add_argument("--grid", default="/tmp/glyph_grid.png")
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    assert a.size % 32 == 0, "size must be a multiple of 32 (filters use 16/32 box downsamples)"
    t0 = time.time()
    lines = [l.strip() for l in open(a.packages)]
    pkgs = [l for l in lines if l and not l.startswith("#")]
    dropped = [l.lstrip("# ") for l in lines if l.startswith("#")]
    versions = fetch(pkgs, a.work)
    root = os.path.join(a.work, "root")
    files = font_files(root, pkgs)
    print(f"{len(pkgs)} packages, {len(files)} font files ({time.time() - t0:.0f}s)", flush=True)

    with Pool(a.procs) as pool:
        results = [r for rs in pool.imap(process_file, [(p, f, a.size, root) for p, f in files], 4) for r in rs]
    status = Counter(r[4].split(":")[0] for r in results)
    ok = [r for r in results if r[3] is not None]
    print(f"{len(results)} faces: {dict(status)} ({time.time() - t0:.0f}s)", flush=True)
    for r in results:
        if r[4].startswith(("render", "unreadable")):
            print(f"  skipped {r[1]}: {r[4]}")

    glyphs = np.stack([r[3] for r in ok])
    keep, dist = dedup(glyphs)
    ok, glyphs, dist = [r for r, k in zip(ok, keep) if k], glyphs[keep], dist[np.ix_(keep, keep)]
    sim, csim = selfsim(glyphs)
    good = (sim >= MIN_SELFSIM) & (csim >= MIN_CLASS_SIM)
    print(f"dedup -> {len(ok)}; selfsim < {MIN_SELFSIM}: {(sim < MIN_SELFSIM).sum()}, centred < {MIN_CLASS_SIM}: "
          f"{(csim < MIN_CLASS_SIM).sum()}, kept {good.sum()} faces ({time.time() - t0:.0f}s)")
    ok, glyphs, dist = [r for r, k in zip(ok, good) if k], glyphs[good], dist[np.ix_(good, good)]

    fkeys = [family_key(r[2]) for r in ok]
    groups = split_groups(fkeys, dist)
    test = np.array([is_test(g) for g in groups])
    n_cls = len(CLASSES)
    split = {}
    for name, m in (("train", ~test), ("test", test)):
        split[f"{name}_images"] = glyphs[m].reshape(-1, a.size, a.size)
        split[f"{name}_labels"] = np.tile(np.arange(n_cls, dtype=np.uint8), int(m.sum()))
        split[f"{name}_faces"] = np.array([r[1] for r, t in zip(ok, m) if t])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    np.savez_compressed(a.out, **split, classes=np.array(list(CLASSES)),
                        packages=np.array([f"{p}={versions[p]}" for p in pkgs]))

    n_fam = len(set(fkeys))
    print(f"{len(ok)} faces, {n_fam} families; train {(~test).sum()} faces / {len(split['train_labels'])} images, "
          f"test {test.sum()} faces ({len(set(k for k, t in zip(fkeys, test) if t))} families) / "
          f"{len(split['test_labels'])} images; {len(set(groups))} split groups")
    # Leak check: held-out faces that are still close to some training face.
    near = dist[np.ix_(test, ~test)].min(1)
    print(f"test faces within RMS 0.06 of a train face: {(near < 0.06).sum()} (min {near.min():.3f})")
    for k in ("train_images", "test_images"):
        print(f"sha256 {k}: {hashlib.sha256(split[k].tobytes()).hexdigest()}")
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 2**20:.1f} MiB) in {time.time() - t0:.0f}s")

    if a.sources_md:
        counts = Counter(r[0] for r in ok)
        lics = {p: licences(root, p) for p in pkgs}
        write_sources(a.sources_md, pkgs, dropped, versions, lics, counts, len(ok), n_fam)
        print(f"wrote {a.sources_md}")
    if a.grid:
        save_grid(a.grid, split["train_images"])
        print(f"wrote {a.grid}")


if __name__ == "__main__":
    sys.exit(main())
