"""Cut and scale clips for video RD sweeps: frames [start, start + count) of each input, resized
(area) to a width (height in proportion, rounded to even), written as lossless RGB Matroska.

    python scripts/video_clips.py OUT_DIR --width 320 --start 0 --count 32 CLIP [CLIP ...]
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from neuralcodec.video import open_video, video_writer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("clips", nargs="+", type=Path)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=32)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for clip in a.clips:
        src = open_video(clip)
        w = min(a.width, src.width)
        h = max(2, round(src.height * w / src.width / 2) * 2)
        dst = a.out / f"{clip.stem}_{w}x{h}_{a.start}+{a.count}.mkv"
        with video_writer(dst, w, h, src.fps) as out:
            for i, f in enumerate(src.frames(a.start + a.count)):
                if i >= a.start:
                    im = Image.fromarray(f)
                    out.write(np.asarray(im if im.size == (w, h) else im.resize((w, h), Image.Resampling.BOX)))
        print(dst)


if __name__ == "__main__":
    main()
