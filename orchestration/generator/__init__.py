"""Sample-data generator: landing files of the eight sources plus ground truth.

    from orchestration.generator import generate
    result = generate(10_000, seed=42, out=Path("landing"))

See engine.generate for the arguments and GenerateResult for what it returns.
"""

from .engine import FileStat, GenerateResult, generate

__all__ = ["FileStat", "GenerateResult", "generate"]
