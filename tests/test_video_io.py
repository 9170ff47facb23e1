"""Video in and out (neuralcodec/video.py): formats, odd sizes, rates, limits and bad input."""
import numpy as np
import pytest

from neuralcodec.errors import NeuralCodecError
from neuralcodec.video import open_video, video_writer


def clip(t=5, h=17, w=23):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([np.stack([(x * 9 + k * 20) % 256, (y * 13 + k * 7) % 256, (x * y + k) % 256], -1)
                     for k in range(t)]).astype(np.uint8)


def write(path, frames, fps=24.0):
    with video_writer(path, frames.shape[2], frames.shape[1], fps) as w:
        for f in frames:
            w.write(f)


@pytest.mark.parametrize("name,tolerance", [("a.mkv", 0), ("a.y4m", 3), ("frames", 0), ("a.mp4", None)])
def test_round_trip_keeps_size_count_and_rate(tmp_path, name, tolerance):
    frames = clip()
    write(tmp_path / name, frames)
    src = open_video(tmp_path / name)
    out = np.stack(list(src.frames()))
    assert out.shape == frames.shape and (src.width, src.height) == (23, 17)
    if name != "frames":
        assert src.fps == pytest.approx(24.0) and not src.has_audio
    if tolerance is None:
        assert 10 * np.log10(255 ** 2 / np.mean((out.astype(float) - frames) ** 2)) > 30
    else:
        assert np.abs(out.astype(int) - frames).max() <= tolerance


def test_frames_stop_at_the_limit(tmp_path):
    write(tmp_path / "a.mkv", clip(t=9))
    assert len(list(open_video(tmp_path / "a.mkv").frames(4))) == 4


def test_bad_inputs_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 50)
    with pytest.raises(NeuralCodecError, match="not a readable video"):
        open_video(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeuralCodecError, match="PNG"):
        open_video(tmp_path / "empty")
    with pytest.raises(NeuralCodecError, match="choose .mkv"):
        with video_writer(tmp_path / "a.gif", 4, 4, 25):
            pass


def test_a_frame_of_another_size_is_refused(tmp_path):
    from neuralcodec.media import save_image
    d = tmp_path / "frames"
    d.mkdir()
    save_image(d / "0.png", clip(1)[0])
    save_image(d / "1.png", clip(1, 9, 9)[0])
    with pytest.raises(NeuralCodecError, match="first frame"):
        list(open_video(d).frames())
