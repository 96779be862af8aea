"""The CPU cost of a spoken chat answer: synthesis plus encoding per output format (engine/content/speech.py and
audio_codec.py), for a transcript of `words` words (2.5 words a second: 60 words are 24 s of sound).

    python benches/bench_audio.py [--words 60] [--runs 5]

Prints the median milliseconds per format and the file size. Measured on the shared 2-core dev machine (other
sessions' load included), so compare formats with each other rather than with other benches.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sentra_openai.engine.content import audio_codec, speech


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    transcript = " ".join(["golden", "retrievers", "are", "friendly", "patient", "dogs"] * (args.words // 6 + 1)
                          ).split()[: args.words]
    text = " ".join(transcript)
    speech.synthesize(text, "alloy", 0)  # fills the period cache, as a running server has
    print(f"{args.words} words = {speech.spoken_seconds(text):.1f} s of sound, "
          f"{speech.output_tokens(speech.spoken_seconds(text))} audio tokens")
    for fmt in audio_codec.OUTPUT_FORMATS:
        timings, size = [], 0
        for seed in range(args.runs):
            start = time.perf_counter()
            size = len(audio_codec.encode(speech.synthesize(text, "alloy", seed + 1), fmt))
            timings.append(time.perf_counter() - start)
        print(f"{fmt:6s} {statistics.median(timings) * 1000:8.1f} ms {size / 1024:8.0f} KiB")


if __name__ == "__main__":
    main()
