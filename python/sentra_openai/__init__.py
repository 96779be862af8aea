"""sentra-openai: a production-realistic simulator of the OpenAI API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sentra-openai")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
