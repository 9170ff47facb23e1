"""The one error type users see for bad input: malformed files, wrong formats, absurd sizes."""


class NeuralCodecError(Exception):
    """A clear, one-line problem with the user's input (file, stream or arguments)."""


class FormatError(NeuralCodecError):
    """A container or stream that is malformed, truncated, corrupt or of another version."""
