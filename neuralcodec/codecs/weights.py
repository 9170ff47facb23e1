"""A learned codec with weights from a file instead of ``assets/``: checkpoints before they ship,
and the weights an older file was coded with (its container names their hash)."""
from __future__ import annotations

from pathlib import Path

from ..errors import NeuralCodecError
from .base import Codec

LEARNED = ("hyperprior", "mref", "wavtok40", "speech")


def codec_from_weights(name: str, path: Path) -> Codec:
    """The learned codec ``name`` (hyperprior, mref, wavtok40, speech) with the weights in ``path``."""
    path = Path(path).expanduser()
    if name not in LEARNED:
        raise KeyError(f"--weights takes a learned codec ({', '.join(LEARNED)}), not {name!r}")
    if not path.is_file():
        raise NeuralCodecError(f"{path}: no such weights file")
    if name == "speech":
        from .audio.speech_codec import SpeechCodec, load_speech_model
        return SpeechCodec(*load_speech_model(path))
    if name == "wavtok40":
        from .audio.codec import TokenizerCodec, load_tokenizer
        return TokenizerCodec(*load_tokenizer(path))
    from .image.hyperprior_codec import HyperpriorCodec
    from .image.learned import load_model
    from .image.mref_codec import MrefCodec
    return {"hyperprior": HyperpriorCodec, "mref": MrefCodec}[name](load_model(path))
