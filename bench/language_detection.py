"""Compare language detectors on short paragraphs: accuracy on bench/data/language_samples.jsonl (short
Russian, Ukrainian, English, German, French, Spanish, Italian, Portuguese paragraphs) and speed on SOTU
paragraphs (how many come out English, ms per paragraph). What chose lingua for index/language.py.

    flock /tmp/cpu.lock .venv/bin/python bench/language_detection.py [--paragraphs 2000] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import SOTU  # noqa: E402

from index.language import DETECTED  # noqa: E402
from index.language import detect as production  # noqa: E402

SAMPLES = ROOT / "bench" / "data" / "language_samples.jsonl"


def detectors() -> dict:
    """name → detect(text) -> ISO 639-1 code or 'und', for each candidate library."""
    import langdetect
    import py3langid
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    out = {"index.language (lingua, restricted, min distance 0.1)": production}
    model = Path(py3langid.__file__).parent / MODEL_FILE
    langid_all = LanguageIdentifier.from_modelpath(model, norm_probs=True)
    langid_some = LanguageIdentifier.from_modelpath(model, norm_probs=True)
    langid_some.set_languages(list(DETECTED))
    out["py3langid (all 97 languages)"] = lambda t: langid_all.classify(t)[0]
    out["py3langid (restricted)"] = lambda t: langid_some.classify(t)[0]
    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in DETECTED]
    for low in (True, False):
        builder = LanguageDetectorBuilder.from_languages(*languages)
        d = (builder.with_low_accuracy_mode() if low else builder).build()
        out[f"lingua (restricted, {'low' if low else 'high'} accuracy)"] = (
            lambda t, d=d: (r.iso_code_639_1.name.lower() if (r := d.detect_language_of(t)) else "und"))
    langdetect.DetectorFactory.seed = 0

    def ld(t: str) -> str:
        try:
            return langdetect.detect(t)
        except langdetect.LangDetectException:
            return "und"
    out["langdetect"] = ld
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paragraphs", type=int, default=2000, help="SOTU paragraphs timed")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    samples = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    paragraphs: list[str] = []
    for path in sorted(p for p in SOTU.rglob("*") if p.is_file()):
        paragraphs += [p for p in re.split(r"\n\s*\n", path.read_text(errors="ignore")) if len(p.split()) >= 4]
        if len(paragraphs) >= args.paragraphs:
            break
    paragraphs = paragraphs[:args.paragraphs]
    results = []
    for name, detect in detectors().items():
        detect("warm up the models")
        wrong = [(s["lang"], got) for s in samples if (got := detect(s["text"])) != s["lang"]]
        began = time.perf_counter()
        english = sum(detect(p) == "en" for p in paragraphs)
        ms = (time.perf_counter() - began) / len(paragraphs) * 1000
        results.append({"detector": name, "correct": len(samples) - len(wrong), "samples": len(samples),
                        "wrong": wrong, "sotu_english": english, "sotu_paragraphs": len(paragraphs),
                        "ms_per_paragraph": round(ms, 3)})
        print(f"{name:55s} {len(samples) - len(wrong)}/{len(samples)} short paragraphs right; SOTU English "
              f"{english}/{len(paragraphs)}; {ms:.2f} ms/paragraph; wrong: {wrong}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
